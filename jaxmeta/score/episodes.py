"""Episodes-to-target: how many episodes a run needs before the running mean
return over a window of episodes first reaches a task's target (the sample
efficiency measure of SAM-HRL-HS, seeds/000).

Sentinel. A run that never reaches the target gets one more than the episodes
it had: `num_episodes + 1` for `episodes_to_target`, total episodes + 1 for
`episodes_to_target_from_updates`. Test `result > available` to find them.
"""

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from jaxmeta.types import Array


def _check_window(window) -> None:
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be an int >= 1, got {window!r}")


def episodes_to_target(episode_returns: Array, target, window: int) -> Array:
    """First episode at which the mean of the last `window` episodes >= target.

    episode_returns: `[..., num_episodes]` in order; NaN (or inf) entries are
    padding, and a window containing padding never counts. target: scalar or
    `[...]` (may be traced). window: static int >= 1.
    Returns int32 `[...]`: the 1-based index of the window's last episode, or
    `num_episodes + 1` if never reached.
    """
    _check_window(window)
    return _episodes_to_target(episode_returns, target, window)


# Jitted cores (validation stays outside, in plain Python): called eagerly on
# host results they compile once per shape instead of once per primitive.
@partial(jax.jit, static_argnames=("window",))
def _episodes_to_target(episode_returns, target, window):
    returns = jnp.asarray(episode_returns, jnp.float32)
    num_episodes = returns.shape[-1]
    batch_shape = returns.shape[:-1]
    if window > num_episodes:
        return jnp.full(batch_shape, num_episodes + 1, jnp.int32)
    valid = jnp.isfinite(returns)
    dims = (1,) * (returns.ndim - 1) + (window,)
    strides = (1,) * returns.ndim
    # Each window is summed on its own (no cumsum differences), so long runs do
    # not lose float32 precision.
    window_sum = lax.reduce_window(
        jnp.where(valid, returns, 0.0), 0.0, lax.add, dims, strides, "VALID"
    )
    window_count = lax.reduce_window(
        valid.astype(jnp.int32), 0, lax.add, dims, strides, "VALID"
    )
    target = jnp.asarray(target, jnp.float32)[..., None]
    reached = (window_count == window) & (window_sum / window >= target)
    first = jnp.argmax(reached, axis=-1).astype(jnp.int32) + window
    return jnp.where(jnp.any(reached, axis=-1), first, num_episodes + 1)


def _from_updates_1d(episode_return, episodes, target, window):
    count = jnp.where(jnp.isfinite(episode_return) & (episodes > 0), episodes, 0.0)
    mean = jnp.where(count > 0, episode_return, 0.0)
    cum_count = jnp.cumsum(count)
    cum_return = jnp.cumsum(count * mean)
    # The window covers episode positions (cum_count - window, cum_count]; find
    # the return sum up to its start, interpolating inside the update holding it.
    start = cum_count - window
    holder = jnp.clip(jnp.searchsorted(cum_count, start, side="left"), 0, None)
    holder = jnp.minimum(holder, count.shape[0] - 1)
    count_before = jnp.where(holder > 0, cum_count[holder - 1], 0.0)
    return_before = jnp.where(holder > 0, cum_return[holder - 1], 0.0)
    return_at_start = return_before + (start - count_before) * mean[holder]
    window_mean = (cum_return - return_at_start) / window
    reached = (cum_count >= window) & (count > 0) & (window_mean >= target)
    first = jnp.argmax(reached)
    return jnp.where(jnp.any(reached), cum_count[first], cum_count[-1] + 1.0)


def episodes_to_target_from_updates(
    episode_return: Array, episodes: Array, target, window: int
) -> Array:
    """Approximate episodes-to-target from per-update training metrics.

    episode_return: `[..., num_updates]` mean return of the episodes finished in
    each update (NaN when none finished), episodes: `[..., num_updates]` their
    count (the learners' `episode_return` and `episodes` metrics). target:
    scalar or `[...]`; window: static int >= 1.

    Approximation: every episode that finished in an update is taken to have
    returned that update's mean, and the answer has update granularity: the
    total episode count at the end of the first update whose last `window`
    episodes average at least `target` (the window's oldest update counted
    partially). It can exceed the exact episode count by less than that
    update's episodes. Returns float32 `[...]`; total episodes + 1 if never.
    """
    _check_window(window)
    if jnp.shape(episode_return) != jnp.shape(episodes) or jnp.ndim(episodes) == 0:
        raise ValueError(
            f"episode_return and episodes must share a shape [..., num_updates], "
            f"got {jnp.shape(episode_return)} and {jnp.shape(episodes)}"
        )
    return _from_updates(episode_return, episodes, target, window)


@partial(jax.jit, static_argnames=("window",))
def _from_updates(episode_return, episodes, target, window):
    episode_return = jnp.asarray(episode_return, jnp.float32)
    episodes = jnp.asarray(episodes, jnp.float32)
    batch_shape = episode_return.shape[:-1]
    target = jnp.broadcast_to(jnp.asarray(target, jnp.float32), batch_shape)
    one_run = partial(_from_updates_1d, window=window)
    flat = jax.vmap(one_run)(
        episode_return.reshape(-1, episode_return.shape[-1]),
        episodes.reshape(-1, episodes.shape[-1]),
        target.reshape(-1),
    )
    return flat.reshape(batch_shape)
