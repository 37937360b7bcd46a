"""Running observation normalisation (parallel Welford / Chan et al. update)."""

import jax.numpy as jnp
from flax import struct


@struct.dataclass
class RunningStats:
    mean: jnp.ndarray  # [obs_dim]
    var: jnp.ndarray  # [obs_dim]
    count: jnp.ndarray  # []


def init_running_stats(obs_dim: int) -> RunningStats:
    """Empty statistics for observations of size `obs_dim`."""
    return RunningStats(
        mean=jnp.zeros(obs_dim), var=jnp.ones(obs_dim), count=jnp.asarray(1e-4)
    )


def update_running_stats(stats: RunningStats, batch: jnp.ndarray) -> RunningStats:
    """Fold `batch: [n, obs_dim]` into `stats`."""
    batch_mean = batch.mean(0)
    batch_var = batch.var(0)
    n = batch.shape[0]
    total = stats.count + n
    delta = batch_mean - stats.mean
    mean = stats.mean + delta * n / total
    m2 = stats.var * stats.count + batch_var * n + delta**2 * stats.count * n / total
    return RunningStats(mean=mean, var=m2 / total, count=total)


def normalize(stats: RunningStats, obs: jnp.ndarray, clip: float = 10.0):
    """`obs: [..., obs_dim]` standardised by `stats` and clipped to ±clip."""
    return jnp.clip((obs - stats.mean) / jnp.sqrt(stats.var + 1e-8), -clip, clip)


def update_running_stats_from_sums(
    stats: RunningStats, count, total, total_sq
) -> RunningStats:
    """Fold a batch given by its moments about `stats.mean` into `stats`:
    count [] (observations, may be 0), total [obs_dim] = sum of (obs -
    stats.mean), total_sq [obs_dim] = sum of (obs - stats.mean)**2. Sums about
    the running mean keep float32 accurate over long episodes."""
    safe = jnp.maximum(count, 1.0)
    delta = total / safe  # batch mean - stats.mean
    batch_var = jnp.maximum(total_sq / safe - delta**2, 0.0)
    new_count = stats.count + count
    mean = stats.mean + delta * count / new_count
    m2 = (
        stats.var * stats.count
        + batch_var * count
        + delta**2 * stats.count * count / new_count
    )
    return RunningStats(mean=mean, var=m2 / new_count, count=new_count)
