"""Recurrent actor-critics for on-policy learners (RL^2): the network, its
memory, the unroll over a rollout segment, and the rollout that carries the
memory from one update to the next.

The memory is the cell's carry (GRU: ``[N, hidden]``; LSTM: a pair of
them). It is zeroed where an episode of the (wrapped) env ended, so with
`RL2Trials` it resets exactly at trial boundaries, never inside a trial;
rollout segments cut trials anywhere, and the carry at a segment's start is
stored so the update can replay the segment (truncated backpropagation
through time).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxmeta.learners.common.rollout import EnvCarry, Trajectory
from jaxmeta.nets.mlp import MLP
from jaxmeta.nets.recurrent import CELLS


class RecurrentActorCritic(nn.Module):
    """Embedding MLP (`embed` widths; () for none) -> recurrent cell -> policy
    logits and value heads, one step at a time.

    `carry` (leaves `[..., hidden]`), `obs: [..., obs_dim]` -> `(carry,
    logits [..., num_actions], value [...])`.
    """

    num_actions: int
    hidden: int = 64
    cell: str = "gru"
    embed: tuple[int, ...] = ()
    activation: str = "tanh"

    @nn.compact
    def __call__(self, carry, obs):
        x = obs
        if self.embed:
            x = MLP(self.embed, None, self.activation, name="embed")(x)
        carry, y = CELLS[self.cell](self.hidden, name="core")(carry, x)
        orthogonal = nn.initializers.orthogonal
        logits = nn.Dense(self.num_actions, kernel_init=orthogonal(0.01), name="pi")(y)
        value = nn.Dense(1, kernel_init=orthogonal(1.0), name="v")(y)
        return carry, logits, jnp.squeeze(value, -1)


def zero_memory(cell: str, hidden: int, batch: int):
    """The memory of `batch` fresh trials: zeros `[batch, hidden]` (a pair of
    them for an LSTM)."""
    zeros = jnp.zeros((batch, hidden), jnp.float32)
    return (zeros, zeros) if cell == "lstm" else zeros


def reset_memory(memory, reset):
    """`memory` (leaves `[N, ...]`: `[N, hidden]` for a cell) zeroed where
    `reset: [N]` is True."""

    def one(m):
        mask = jnp.reshape(reset, reset.shape + (1,) * (m.ndim - 1))
        return jnp.where(mask, jnp.zeros_like(m), m)

    return jax.tree_util.tree_map(one, memory)


def unroll(net, params, memory, obs, resets):
    """Replay a segment. obs: [T, N, obs_dim]; resets: [T, N] (zero the
    memory before step t); memory: at the segment's start, leaves [N, H].
    Returns `(memory, logits [T, N, A], values [T, N])`."""

    def step(memory, inputs):
        obs_t, reset_t = inputs
        memory, logits, value = net.apply(params, reset_memory(memory, reset_t), obs_t)
        return memory, (logits, value)

    memory, (logits, values) = jax.lax.scan(step, memory, (obs, resets))
    return memory, logits, values


def collect_recurrent_rollout(key, env, env_params, carry: EnvCarry, memory, steps, fn):
    """Step `N` envs for `steps` steps with a recurrent policy.

    fn(key, memory, obs [N, obs_dim]) -> (memory, action [N], log_prob [N],
    value [N]); the memory is zeroed after every step that ended an episode.
    Returns `(carry, memory, trajectory, stats)`: trajectory leaves
    `[steps, N, ...]` (as `collect_rollout`'s); stats as `collect_rollout`'s
    (`episode_return`: mean return of the episodes that finished, NaN when
    none did; `episodes`; `episode_length`; `env_finite`).
    """
    num_envs = carry.obs.shape[0]

    def step(state, key):
        carry, memory = state
        key_act, key_env = jax.random.split(key)
        memory, action, log_prob, value = fn(key_act, memory, carry.obs)
        obs, env_state, reward, terminated, truncated, info = jax.vmap(
            env.step, in_axes=(0, 0, 0, None)
        )(jax.random.split(key_env, num_envs), carry.env_state, action, env_params)
        obs = jnp.reshape(obs, (num_envs, -1)).astype(jnp.float32)
        final_obs = jnp.reshape(info["final_observation"], (num_envs, -1))
        reward = reward.astype(jnp.float32)
        done = jnp.logical_or(terminated, truncated)
        ep_return = carry.episode_return + reward
        ep_length = carry.episode_length + 1
        new_carry = carry.replace(
            obs=obs,
            env_state=env_state,
            episode_return=jnp.where(done, 0.0, ep_return),
            episode_length=jnp.where(done, 0.0, ep_length),
        )
        transition = Trajectory(
            obs=carry.obs,
            action=action,
            log_prob=log_prob,
            value=value,
            reward=reward,
            done=done,
            truncated=jnp.logical_and(truncated, jnp.logical_not(terminated)),
            final_obs=final_obs.astype(jnp.float32),
        )
        finite = jnp.all(jnp.isfinite(reward)) & jnp.all(jnp.isfinite(final_obs))
        memory = reset_memory(memory, done)
        return (new_carry, memory), (transition, ep_return, ep_length, finite)

    (carry, memory), (traj, returns, lengths, finite) = jax.lax.scan(
        step, (carry, memory), jax.random.split(key, steps)
    )
    done = traj.done.astype(jnp.float32)
    count = done.sum()
    safe = jnp.maximum(count, 1.0)
    stats = {
        "env_finite": jnp.all(finite),
        "episode_return": jnp.where(count > 0, (returns * done).sum() / safe, np.nan),
        "episodes": count,
        "episode_length": jnp.where(count > 0, (lengths * done).sum() / safe, np.nan),
    }
    return carry, memory, traj, stats
