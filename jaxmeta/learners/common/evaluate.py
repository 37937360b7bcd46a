"""Evaluate a trained learner on fresh episodes (a masked scan, no while_loop),
and the policy-carry protocol it runs a learner's policy with.

A learner whose policy keeps something across an episode's steps (an LSTM's
memory, a manager's goal) defines `act_init(state, obs) -> carry` and
`act_step(key, state, carry, obs, deterministic) -> (action, carry)`; its
`act` alone (the learner contract, no carry) acts as at an episode's first
step. Every other learner's policy is its `act`.
"""

import jax
import jax.numpy as jnp


def act_init(learner, state, obs):
    """The carry of `learner`'s policy at the first step of the episodes
    `obs: [N, obs_dim]` (its `act_init`), or () if it keeps none."""
    init = getattr(learner, "act_init", None)
    return () if init is None else init(state, obs)


def act_step(learner, key, state, carry, obs, deterministic: bool = False):
    """One step of `learner`'s policy: `(actions [N, ...], carry)` for `obs:
    [N, obs_dim]` and the carry of the step before (`act_init`'s at the
    first); `act` for learners without `act_step`."""
    step = getattr(learner, "act_step", None)
    if step is None:
        return learner.act(key, state, obs, deterministic), carry
    return step(key, state, carry, obs, deterministic)


def evaluate(
    learner,
    key,
    state,
    env_params,
    num_episodes: int,
    max_steps: int,
    deterministic: bool = False,
):
    """Run `num_episodes` episodes in parallel with the learner's policy
    (`act_step`: sampled actions, or greedy ones when `deterministic`).

    Each episode counts rewards until its first termination or truncation, or
    `max_steps`. Returns `(returns, lengths)`, each `[num_episodes]`.
    """
    env = learner.env
    key_reset, key_steps = jax.random.split(key)
    obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(key_reset, num_episodes), env_params
    )

    flat_obs = lambda o: jnp.reshape(o, (num_episodes, -1)).astype(jnp.float32)  # noqa: E731

    def step(carry, key):
        obs, env_state, policy, alive, total, length = carry
        key_act, key_env = jax.random.split(key)
        action, policy = act_step(
            learner, key_act, state, policy, flat_obs(obs), deterministic
        )
        obs, env_state, reward, terminated, truncated, _ = jax.vmap(
            env.step, in_axes=(0, 0, 0, None)
        )(jax.random.split(key_env, num_episodes), env_state, action, env_params)
        total = total + jnp.where(alive, reward, 0.0)
        length = length + alive
        alive = jnp.logical_and(alive, ~jnp.logical_or(terminated, truncated))
        return (obs, env_state, policy, alive, total, length), None

    init = (
        obs,
        env_state,
        act_init(learner, state, flat_obs(obs)),
        jnp.ones(num_episodes, bool),
        jnp.zeros(num_episodes),
        jnp.zeros(num_episodes, jnp.int32),
    )
    (*_, total, length), _ = jax.lax.scan(
        step, init, jax.random.split(key_steps, max_steps)
    )
    return total, length
