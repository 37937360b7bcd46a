"""Vectorised environment rollouts with episode bookkeeping.

The env batch auto-resets (gymnax does so inside `step`); the carry tracks each
env's running return and length so an update can report the returns of the
episodes that finished during it. Observations are flattened to `[N, obs_dim]`.
"""

import jax
import jax.numpy as jnp
from flax import struct

from jaxmeta.learners.common.normalization import (
    RunningStats,
    init_running_stats,
    normalize,
    update_running_stats,
)
from jaxmeta.learners.common.policy import PolicyHead, action_bounds


@struct.dataclass
class EnvCarry:
    obs: jnp.ndarray  # [N, obs_dim], raw
    env_state: object  # env state pytree, leaves [N, ...]
    episode_return: jnp.ndarray  # [N], return of the running episode so far
    episode_length: jnp.ndarray  # [N]
    obs_stats: RunningStats  # updated only when observation normalisation is on
    action_low: jnp.ndarray  # [action_dim] bounds of the task trained on ([0]
    action_high: jnp.ndarray  # for discrete actions), see `action_bounds`


@struct.dataclass
class Trajectory:
    obs: jnp.ndarray  # [T, N, obs_dim], as fed to the networks
    action: jnp.ndarray  # [T, N] int or [T, N, action_dim]
    log_prob: jnp.ndarray  # [T, N]
    value: jnp.ndarray  # [T, N] (zeros when the learner has no critic)
    reward: jnp.ndarray  # [T, N]
    done: jnp.ndarray  # [T, N] terminated or truncated
    truncated: jnp.ndarray  # [T, N] truncated and not terminated
    final_obs: jnp.ndarray  # [T, N, obs_dim] obs that ended the step, pre-reset


def _flatten(obs, num_envs):
    return jnp.reshape(obs, (num_envs, -1)).astype(jnp.float32)


def init_env_carry(key, env, env_params, num_envs: int, head: PolicyHead) -> EnvCarry:
    """Reset `num_envs` envs. Returns an `EnvCarry` with obs `[num_envs, obs_dim]`
    and the action bounds of `env_params`."""
    keys = jax.random.split(key, num_envs)
    obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(keys, env_params)
    obs = _flatten(obs, num_envs)
    zeros = jnp.zeros(num_envs)
    stats = update_running_stats(init_running_stats(obs.shape[-1]), obs)
    low, high = action_bounds(env, env_params, head)
    return EnvCarry(obs, env_state, zeros, zeros, stats, low, high)


def policy_input(carry: EnvCarry, obs, normalize_obs: bool):
    """Observations as the networks see them."""
    return normalize(carry.obs_stats, obs) if normalize_obs else obs


def collect_rollout(
    key, env, env_params, carry: EnvCarry, num_steps: int, policy_fn, normalize_obs
):
    """Step `N` envs for `num_steps` with `policy_fn`.

    policy_fn(key, obs_in `[N, obs_dim]`) -> (action, env_action, log_prob `[N]`,
    value `[N]`). Returns `(carry, trajectory, stats)` where trajectory leaves are
    `[num_steps, N, ...]` and stats holds `episode_return` (mean return of the
    episodes that finished, NaN when none did), `episodes` (how many finished),
    `episode_length` (their mean length, NaN when none) and `env_finite` ([]
    bool: every observation and reward of the rollout was finite).
    """
    num_envs = carry.obs.shape[0]

    def step(carry, key):
        key_act, key_env = jax.random.split(key)
        obs_in = policy_input(carry, carry.obs, normalize_obs)
        action, env_action, log_prob, value = policy_fn(key_act, obs_in)
        env_keys = jax.random.split(key_env, num_envs)
        obs, env_state, reward, terminated, truncated, info = jax.vmap(
            env.step, in_axes=(0, 0, 0, None)
        )(env_keys, carry.env_state, env_action, env_params)
        obs = _flatten(obs, num_envs)
        reward = reward.astype(jnp.float32)
        done = jnp.logical_or(terminated, truncated)
        stats = carry.obs_stats
        if normalize_obs:
            stats = update_running_stats(stats, obs)
        final_obs = _flatten(info["final_observation"], num_envs)
        ep_return = carry.episode_return + reward
        ep_length = carry.episode_length + 1
        new_carry = EnvCarry(
            obs,
            env_state,
            jnp.where(done, 0.0, ep_return),
            jnp.where(done, 0.0, ep_length),
            stats,
            carry.action_low,
            carry.action_high,
        )
        transition = Trajectory(
            obs=obs_in,
            action=action,
            log_prob=log_prob,
            value=value,
            reward=reward,
            done=done,
            truncated=jnp.logical_and(truncated, jnp.logical_not(terminated)),
            final_obs=policy_input(new_carry, final_obs, normalize_obs),
        )
        finite = jnp.logical_and(
            jnp.all(jnp.isfinite(reward)), jnp.all(jnp.isfinite(final_obs))
        )
        return new_carry, (transition, ep_return, ep_length, finite)

    carry, (traj, ep_returns, ep_lengths, finite) = jax.lax.scan(
        step, carry, jax.random.split(key, num_steps)
    )
    done = traj.done.astype(jnp.float32)
    count = done.sum()
    safe = jnp.maximum(count, 1.0)
    stats = {
        "env_finite": jnp.all(finite),
        "episode_return": jnp.where(
            count > 0, (ep_returns * done).sum() / safe, jnp.nan
        ),
        "episodes": count,
        "episode_length": jnp.where(
            count > 0, (ep_lengths * done).sum() / safe, jnp.nan
        ),
    }
    return carry, traj, stats
