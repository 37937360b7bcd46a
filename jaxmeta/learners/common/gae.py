"""Advantage estimation: GAE(λ) and discounted returns-to-go, reset at episode ends."""

import jax
import jax.numpy as jnp


def gae_advantages(rewards, values, dones, last_value, gamma, gae_lambda):
    """Generalised advantage estimation over a rollout.

    rewards, values, dones: `[T, N]` (`dones[t]` = episode ended at step t, so no
    bootstrap across it; truncation bootstrapping is folded into `rewards` by the
    caller). last_value: `[N]`, the value of the observation after step T-1.
    Returns `(advantages, returns)`, each `[T, N]`.
    """
    next_values = jnp.concatenate([values[1:], last_value[None]], 0)
    not_done = 1.0 - dones.astype(values.dtype)
    deltas = rewards + gamma * next_values * not_done - values

    def backward(carry, inputs):
        delta, nd = inputs
        carry = delta + gamma * gae_lambda * nd * carry
        return carry, carry

    _, advantages = jax.lax.scan(
        backward, jnp.zeros_like(last_value), (deltas, not_done), reverse=True
    )
    return advantages, advantages + values


def discounted_returns(rewards, dones, bootstrap, gamma):
    """Returns-to-go within episodes.

    rewards, dones: `[T, N]`; bootstrap: `[N]` value credited after step T-1 for
    episodes still running (zeros for plain Monte Carlo). Returns `[T, N]`.
    """
    not_done = 1.0 - dones.astype(rewards.dtype)

    def backward(carry, inputs):
        reward, nd = inputs
        carry = reward + gamma * nd * carry
        return carry, carry

    _, returns = jax.lax.scan(backward, bootstrap, (rewards, not_done), reverse=True)
    return returns
