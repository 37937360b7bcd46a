"""Greedy evaluation for the HIRO experiment: the success rate of an agent
on the evaluation task (AntMaze's: the fixed far goal, success at the
episode's last step), for HIRO (its two levels, goals kept between the
manager's choices by the goal transition) and for a flat learner."""

import jax
import jax.numpy as jnp

from jaxmeta.learners.hierarchical import hiro_parts as parts
from jaxmeta.learners.hierarchical.hiro import HIRO


def greedy_final(learner, key, state, env_params, episodes: int, steps: int):
    """Run `episodes` envs for `steps` steps (one episode each when `steps`
    is the env's episode length) with deterministic policies.

    Returns `(success [episodes] bool, distance [episodes])` at the last
    step (the env's `info["success"]` / `info["distance"]`)."""
    env = learner.env
    key_reset, key_run = jax.random.split(key)
    obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(key_reset, episodes), env_params
    )
    obs = obs.reshape(episodes, -1).astype(jnp.float32)
    hierarchical = isinstance(learner, HIRO)

    def step(carry, xs):
        obs, env_state, goal = carry
        key, t = xs
        if hierarchical:
            fresh = learner.choose_goal(key, state, obs, deterministic=True)
            goal = jnp.where(t % learner.goal_every == 0, fresh, goal)
            action = learner.act_for_goal(key, state, obs, goal, deterministic=True)
        else:
            action = learner.act(key, state, obs, deterministic=True)
        next_obs, env_state, *_, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
            jax.random.split(key, episodes), env_state, action, env_params
        )
        next_obs = next_obs.reshape(episodes, -1).astype(jnp.float32)
        if hierarchical:
            goal = parts.goal_transition(obs, goal, next_obs, learner.goal_dims)
        out = (info["success"], info["distance"])
        return (next_obs, env_state, goal), out

    goal_dim = learner.goal_dim if hierarchical else 1
    carry = (obs, env_state, jnp.zeros((episodes, goal_dim)))
    xs = (jax.random.split(key_run, steps), jnp.arange(steps))
    _, (success, distance) = jax.lax.scan(step, carry, xs)
    return success[-1], distance[-1]
