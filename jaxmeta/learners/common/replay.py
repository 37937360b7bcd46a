"""A fixed-capacity replay ring buffer for off-policy learners (SAC, DQN, TD3).

Pure functions over a `flax.struct` dataclass, so a population vmaps over it:
each member has its own buffer, its own write position and fill level. Shapes
never change; `size` says how many slots hold data, and sampling draws only
among those. `terminated` marks true terminations only: a time-limit
truncation stores `terminated=False` with the pre-reset observation as
`next_obs`, so its target still bootstraps. `done` marks every episode end
(terminations and truncations): an n-step return (`replay_sample_n_step`)
stops there.
"""

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class ReplayBuffer:
    obs: jax.Array  # [C, obs_dim]
    action: jax.Array  # [C, action_dim]
    reward: jax.Array  # [C]
    next_obs: jax.Array  # [C, obs_dim]
    terminated: jax.Array  # [C] bool, true termination (no bootstrap)
    done: jax.Array  # [C] bool, the episode ended (terminated or truncated)
    position: jax.Array  # [] int32, the next slot written
    size: jax.Array  # [] int32, filled slots, at most C

    @property
    def capacity(self) -> int:
        return self.obs.shape[0]


def replay_init(
    capacity: int, obs_dim: int, action_dim: int, action_dtype=jnp.float32
) -> ReplayBuffer:
    """An empty buffer of `capacity` (C) transitions, zero-filled; actions
    `[C, action_dim]` of `action_dtype` (int32 for discrete actions)."""
    if not isinstance(capacity, int) or capacity <= 0:
        raise ValueError(f"capacity must be a positive integer, got {capacity!r}")
    return ReplayBuffer(
        obs=jnp.zeros((capacity, obs_dim), jnp.float32),
        action=jnp.zeros((capacity, action_dim), action_dtype),
        reward=jnp.zeros(capacity, jnp.float32),
        next_obs=jnp.zeros((capacity, obs_dim), jnp.float32),
        terminated=jnp.zeros(capacity, bool),
        done=jnp.zeros(capacity, bool),
        position=jnp.asarray(0, jnp.int32),
        size=jnp.asarray(0, jnp.int32),
    )


def _check_fits(buffer: ReplayBuffer, num: int) -> None:
    if num > buffer.capacity:
        raise ValueError(
            f"cannot add {num} transitions to a replay buffer of capacity "
            f"{buffer.capacity}"
        )


def _write(buffer, slots, added, transitions, **scatter) -> ReplayBuffer:
    """Scatter `transitions` (obs, action, reward, next_obs, terminated, done)
    to `slots` ([N]) and advance the ring by `added`; `scatter`: `.at[].set`
    options."""
    obs, action, reward, next_obs, terminated, done = transitions

    def put(field, values):
        return field.at[slots].set(values.astype(field.dtype), **scatter)

    return buffer.replace(
        obs=put(buffer.obs, obs),
        action=put(buffer.action, action),
        reward=put(buffer.reward, reward),
        next_obs=put(buffer.next_obs, next_obs),
        terminated=put(buffer.terminated, terminated),
        done=put(buffer.done, terminated if done is None else done),
        position=(buffer.position + added) % buffer.capacity,
        size=jnp.minimum(buffer.size + added, buffer.capacity),
    )


def replay_add(
    buffer: ReplayBuffer, obs, action, reward, next_obs, terminated, done=None
) -> ReplayBuffer:
    """Write N transitions at the ring position, wrapping around and
    overwriting the oldest ones once full.

    obs, next_obs: [N, obs_dim]; action: [N, action_dim]; reward, terminated:
    [N]; done: [N] bool episode ends (default: `terminated`, i.e. no
    truncations). N must not exceed the capacity (checked on the static
    shapes).
    """
    num = obs.shape[0]
    _check_fits(buffer, num)
    slots = (buffer.position + jnp.arange(num, dtype=jnp.int32)) % buffer.capacity
    transitions = (obs, action, reward, next_obs, terminated, done)
    return _write(buffer, slots, num, transitions, unique_indices=True)


def replay_add_masked(
    buffer: ReplayBuffer, obs, action, reward, next_obs, terminated, valid, done=None
) -> ReplayBuffer:
    """`replay_add` of only the transitions with `valid` ([N] bool), in order,
    packed at the ring position; the others are dropped (e.g. the steps of an
    ES episode after it ended). Shapes (and the `done` default) as
    `replay_add`."""
    _check_fits(buffer, obs.shape[0])
    valid = valid.astype(bool)
    order = jnp.cumsum(valid, dtype=jnp.int32) - 1
    # Invalid rows target slot `capacity`, out of range, which mode="drop" skips.
    slots = jnp.where(
        valid, (buffer.position + order) % buffer.capacity, buffer.capacity
    )
    added = jnp.sum(valid, dtype=jnp.int32)
    transitions = (obs, action, reward, next_obs, terminated, done)
    return _write(buffer, slots, added, transitions, mode="drop")


def replay_sample(key, buffer: ReplayBuffer, batch_size: int) -> dict:
    """`batch_size` (B) transitions drawn uniformly, with replacement, among the
    filled slots (slot 0, all zeros, while the buffer is empty).

    Returns {"obs": [B, obs_dim], "action": [B, action_dim], "reward": [B],
    "next_obs": [B, obs_dim], "terminated": [B] bool}.
    """
    slots = jax.random.randint(key, (batch_size,), 0, jnp.maximum(buffer.size, 1))
    return {
        "obs": buffer.obs[slots],
        "action": buffer.action[slots],
        "reward": buffer.reward[slots],
        "next_obs": buffer.next_obs[slots],
        "terminated": buffer.terminated[slots],
    }


def replay_sample_n_step(
    key, buffer: ReplayBuffer, batch_size: int, n_step: int, stride: int, gamma
) -> dict:
    """`batch_size` (B) n-step transitions, start slots drawn uniformly, with
    replacement, among the filled slots that have `n_step - 1` successors.

    The buffer must be written in time-major rows of `stride` parallel envs
    (slot s + stride holds the next step of slot s's env) and its capacity be
    a multiple of `stride`. The return sums `gamma^k r_{t+k}` over up to
    `n_step` steps, stopping after the first `done`; it bootstraps from the
    `next_obs` of the last step summed, discounted by `gamma^m` (m steps
    summed), or not at all if that step terminated. `n_step = 1` is the
    one-step transition. gamma: [] (traced).

    Returns {"obs": [B, obs_dim], "action": [B, action_dim], "reward": [B] the
    n-step return, "next_obs": [B, obs_dim] the observation bootstrapped from,
    "discount": [B] its weight `gamma^m * (1 - terminated)`}.
    """
    capacity = buffer.capacity
    if capacity % stride:
        raise ValueError(
            f"replay capacity ({capacity}) must be a multiple of stride ({stride})"
        )
    span = (n_step - 1) * stride
    starts = jnp.maximum(buffer.size - span, 1)
    oldest = (buffer.position - buffer.size) % capacity
    draw = jax.random.randint(key, (batch_size,), 0, starts)
    first = (oldest + draw) % capacity
    slots = (first[:, None] + stride * jnp.arange(n_step)) % capacity  # [B, n]
    done = buffer.done[slots]
    # Step k counts while no episode ended at steps 0..k-1.
    alive = jnp.cumprod(
        jnp.concatenate([jnp.ones_like(done[:, :1]), ~done[:, :-1]], axis=1), axis=1
    ).astype(jnp.float32)
    powers = gamma ** jnp.arange(n_step, dtype=jnp.float32)
    n_return = jnp.sum(alive * powers * buffer.reward[slots], axis=1)
    steps = jnp.sum(alive, axis=1)  # m in [1, n_step]
    last = jnp.take_along_axis(slots, steps.astype(jnp.int32)[:, None] - 1, 1)[:, 0]
    not_terminated = 1.0 - buffer.terminated[last].astype(jnp.float32)
    return {
        "obs": buffer.obs[first],
        "action": buffer.action[first],
        "reward": n_return,
        "next_obs": buffer.next_obs[last],
        "discount": gamma**steps * not_terminated,
    }
