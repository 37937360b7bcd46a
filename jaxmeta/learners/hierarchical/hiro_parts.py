"""HIRO's pieces that need no networks of their own (Nachum et al. 2018):
the goal transition, the worker's intrinsic reward, the off-policy
correction (candidate goals and the choice of the one under which the
current worker most likely took the stored actions), and the manager's
replay ring, which keeps each manager transition's c states and actions
for that correction.

Goals live in the space of the observation dims `goal_dims` (a tuple of
indices, static) and are relative: the manager's goal g at s asks the
worker to reach s[goal_dims] + g.
"""

import jax
import jax.numpy as jnp
from flax import struct


def goal_transition(obs, goal, next_obs, goal_dims):
    """h(s, g, s') = s + g - s' on the goal dims, which keeps the absolute
    target fixed while the state moves. obs, next_obs `[..., obs_dim]`, goal
    `[..., goal_dim]` -> `[..., goal_dim]`."""
    dims = jnp.asarray(goal_dims)
    return obs[..., dims] + goal - next_obs[..., dims]


def intrinsic_reward(obs, goal, next_obs, goal_dims):
    """The worker's reward -||s + g - s'|| (shapes as `goal_transition`) ->
    `[...]`."""
    return -jnp.linalg.norm(goal_transition(obs, goal, next_obs, goal_dims), axis=-1)


def candidate_goals(key, goal, start_obs, end_obs, goal_dims, goal_range, std, num):
    """The off-policy correction's `num` candidates for each transition:
    the original goal, the achieved change s_{t+c} - s_t, and `num - 2`
    draws from N(s_{t+c} - s_t, (std * goal_range)^2), the last two kinds
    clipped to [-goal_range, goal_range].

    goal `[B, goal_dim]`; start_obs, end_obs `[B, obs_dim]` (s_t, s_{t+c});
    goal_range, std [] (traced). Returns `[B, num, goal_dim]`, index 0 the
    original, 1 the achieved change.
    """
    dims = jnp.asarray(goal_dims)
    achieved = end_obs[:, dims] - start_obs[:, dims]
    noise = jax.random.normal(key, (goal.shape[0], num - 2, goal.shape[-1]))
    drawn = achieved[:, None] + std * goal_range * noise
    others = jnp.concatenate([achieved[:, None], drawn], axis=1)
    others = jnp.clip(others, -goal_range, goal_range)
    return jnp.concatenate([goal[:, None], others], axis=1)


def window_goals(goal, start_obs, states, goal_dims):
    """The goals the worker saw at each step of a window under the goal
    transition: g_i = s_t + g - s_{t+i}. goal `[..., goal_dim]`, start_obs
    `[..., obs_dim]`, states `[..., c, obs_dim]` -> `[..., c, goal_dim]`."""
    dims = jnp.asarray(goal_dims)
    return (start_obs[..., dims] + goal)[..., None, :] - states[..., dims]


def action_log_likelihood(
    policy_fn, goal, start_obs, states, actions, valid, std, goal_dims
):
    """log N(actions; policy(s_i, g_i), std^2 I) summed over the valid steps
    of each window, for each candidate goal, with g_i from `window_goals` (as
    the paper: a Gaussian around the worker's deterministic actions).

    policy_fn(inputs `[..., obs_dim + goal_dim]`) -> `[..., action_dim]`;
    goal `[B, K, goal_dim]` (K candidates); start_obs `[B, obs_dim]`;
    states `[B, c, obs_dim]`; actions `[B, c, action_dim]`; valid `[B, c]`
    bool; std [] > 0. Returns `[B, K]`.
    """
    goals = window_goals(goal, start_obs[:, None], states[:, None], goal_dims)
    tiled = jnp.broadcast_to(states[:, None], goals.shape[:3] + states.shape[-1:])
    means = policy_fn(jnp.concatenate([tiled, goals], axis=-1))  # [B, K, c, A]
    error = jnp.sum((actions[:, None] - means) ** 2, axis=-1)  # [B, K, c]
    norm = actions.shape[-1] * (jnp.log(std) + 0.5 * jnp.log(2.0 * jnp.pi))
    per_step = -0.5 * error / std**2 - norm
    return jnp.sum(jnp.where(valid[:, None], per_step, 0.0), axis=-1)


def relabel_goals(key, policy_fn, batch, goal_dims, goal_range, std, noise_std, num):
    """The off-policy correction of a manager batch: each transition's goal
    replaced by the candidate (`candidate_goals`) that maximises the current
    worker's `action_log_likelihood` of the stored window.

    batch as `window_sample` with the goal in goal units (`goal` `[B,
    goal_dim]`); noise_std [] the worker's exploration noise (floored at
    1e-3: the argmax does not depend on it, the log-likelihood would be
    infinite at 0). Returns `(goal [B, goal_dim], choice [B] int32: the
    candidate index, 0 = original, 1 = achieved change)`.
    """
    candidates = candidate_goals(
        key, batch["goal"], batch["obs"], batch["next_obs"], goal_dims,
        goal_range, std, num,
    )  # fmt: skip
    score = action_log_likelihood(
        policy_fn, candidates, batch["obs"], batch["states"], batch["actions"],
        batch["valid"], jnp.maximum(noise_std, 1e-3), goal_dims,
    )  # fmt: skip
    choice = jnp.argmax(score, axis=-1).astype(jnp.int32)
    goal = jnp.take_along_axis(candidates, choice[:, None, None], axis=1)[:, 0]
    return goal, choice


@struct.dataclass
class WindowReplay:
    """The manager's replay ring: a transition from s_t with goal g (in goal
    units, as the manager's actor outputs it scaled by the goal range) to
    s_{t+c}, with the window of c worker steps between."""

    obs: jax.Array  # [C, obs_dim] s_t
    goal: jax.Array  # [C, goal_dim]
    reward: jax.Array  # [C] sum of the env rewards of the window
    next_obs: jax.Array  # [C, obs_dim] s_{t+c} (pre-reset if the episode ended)
    terminated: jax.Array  # [C] bool
    states: jax.Array  # [C, c, obs_dim] s_t .. s_{t+c-1}
    actions: jax.Array  # [C, c, action_dim] the worker's, in [-1, 1]
    valid: jax.Array  # [C, c] bool: steps taken (fewer if the episode ended)
    position: jax.Array  # [] int32, the next slot written
    size: jax.Array  # [] int32, filled slots

    @property
    def capacity(self) -> int:
        return self.obs.shape[0]


def window_init(capacity: int, obs_dim: int, goal_dim: int, action_dim: int, c: int):
    """An empty `WindowReplay` of `capacity` transitions of windows of `c`."""
    if not isinstance(capacity, int) or capacity <= 0:
        raise ValueError(f"capacity must be a positive integer, got {capacity!r}")
    zeros = lambda *shape: jnp.zeros((capacity, *shape), jnp.float32)  # noqa: E731
    return WindowReplay(
        obs=zeros(obs_dim),
        goal=zeros(goal_dim),
        reward=zeros(),
        next_obs=zeros(obs_dim),
        terminated=jnp.zeros(capacity, bool),
        states=zeros(c, obs_dim),
        actions=zeros(c, action_dim),
        valid=jnp.zeros((capacity, c), bool),
        position=jnp.asarray(0, jnp.int32),
        size=jnp.asarray(0, jnp.int32),
    )


FIELDS = ("obs", "goal", "reward", "next_obs", "terminated", "states", "actions")


def window_add_masked(buffer: WindowReplay, rows: dict, keep) -> WindowReplay:
    """Write the rows with `keep` (`[N]` bool), in order, at the ring
    position (overwriting the oldest once full). rows: {FIELDS and "valid"},
    leading axis N <= capacity (checked on the static shapes)."""
    num = keep.shape[0]
    if num > buffer.capacity:
        raise ValueError(
            f"cannot add {num} windows to a replay of capacity {buffer.capacity}"
        )
    order = jnp.cumsum(keep, dtype=jnp.int32) - 1
    # Rows not kept target slot `capacity`, out of range: mode="drop" skips them.
    slots = jnp.where(
        keep, (buffer.position + order) % buffer.capacity, buffer.capacity
    )
    added = jnp.sum(keep, dtype=jnp.int32)
    new = {
        name: getattr(buffer, name)
        .at[slots]
        .set(rows[name].astype(getattr(buffer, name).dtype), mode="drop")
        for name in (*FIELDS, "valid")
    }
    return buffer.replace(
        **new,
        position=(buffer.position + added) % buffer.capacity,
        size=jnp.minimum(buffer.size + added, buffer.capacity),
    )


def window_sample(key, buffer: WindowReplay, batch_size: int) -> dict:
    """`batch_size` transitions drawn uniformly, with replacement, among the
    filled slots: {FIELDS, "valid"}, leading axis B (slot 0 while empty)."""
    slots = jax.random.randint(key, (batch_size,), 0, jnp.maximum(buffer.size, 1))
    return {name: getattr(buffer, name)[slots] for name in (*FIELDS, "valid")}
