"""Greedy evaluation for the HIRO experiment: the success rate of an agent
on the evaluation task (AntMaze's: the fixed far goal, success at the
episode's last step), with the learner's policy carry (HIRO: its two
levels, goals kept between the manager's choices by the goal transition;
a flat learner: its `act`)."""

import jax
import jax.numpy as jnp

from jaxmeta.learners.common.evaluate import act_init, act_step


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

    def step(carry, key):
        obs, env_state, policy = carry
        action, policy = act_step(learner, key, state, policy, obs, True)
        next_obs, env_state, *_, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
            jax.random.split(key, episodes), env_state, action, env_params
        )
        next_obs = next_obs.reshape(episodes, -1).astype(jnp.float32)
        return (next_obs, env_state, policy), (info["success"], info["distance"])

    carry = (obs, env_state, act_init(learner, state, obs))
    _, (success, distance) = jax.lax.scan(step, carry, jax.random.split(key_run, steps))
    return success[-1], distance[-1]
