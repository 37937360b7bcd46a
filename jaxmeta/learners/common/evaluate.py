"""Evaluate a trained learner on fresh episodes (a masked scan, no while_loop)."""

import jax
import jax.numpy as jnp


def evaluate(
    learner,
    key,
    state,
    env_params,
    num_episodes: int,
    max_steps: int,
    deterministic: bool = False,
):
    """Run `num_episodes` episodes in parallel with `learner.act` (sampled
    actions, or greedy ones when `deterministic`).

    Each episode counts rewards until its first termination or truncation, or
    `max_steps`. Returns `(returns, lengths)`, each `[num_episodes]`.
    """
    env = learner.env
    key_reset, key_steps = jax.random.split(key)
    obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(key_reset, num_episodes), env_params
    )

    def step(carry, key):
        obs, env_state, alive, total, length = carry
        key_act, key_env = jax.random.split(key)
        flat = jnp.reshape(obs, (num_episodes, -1)).astype(jnp.float32)
        action = learner.act(key_act, state, flat, deterministic)
        obs, env_state, reward, terminated, truncated, _ = jax.vmap(
            env.step, in_axes=(0, 0, 0, None)
        )(jax.random.split(key_env, num_episodes), env_state, action, env_params)
        total = total + jnp.where(alive, reward, 0.0)
        length = length + alive
        alive = jnp.logical_and(alive, ~jnp.logical_or(terminated, truncated))
        return (obs, env_state, alive, total, length), None

    init = (
        obs,
        env_state,
        jnp.ones(num_episodes, bool),
        jnp.zeros(num_episodes),
        jnp.zeros(num_episodes, jnp.int32),
    )
    (_, _, _, total, length), _ = jax.lax.scan(
        step, init, jax.random.split(key_steps, max_steps)
    )
    return total, length
