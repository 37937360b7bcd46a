"""The host loop: train a population in compiled chunks of updates.

Between chunks (never inside them) metrics move to the host and
`progress_fn(step, metrics)` runs: progress bars, logs and files live there.
"""

import time
from collections.abc import Callable

import jax
import numpy as np

from jaxmeta.learners.base import split_train_key, train_from
from jaxmeta.run.sharding import (
    pad_population,
    padded_size,
    population_mesh,
    replicate,
    shard_population,
)


def equal_chunk_size(num_updates: int, target: int) -> int:
    """Largest divisor of `num_updates` not above `target`, so every chunk has
    the same length and the chunk function compiles once."""
    target = max(1, min(target, num_updates))
    return max(d for d in range(1, target + 1) if num_updates % d == 0)


def _init_population(learner, keys, hparams, env_params):
    def init_one(key, hp):
        key_init, key_updates = split_train_key(key)
        return learner.init(key_init, hp, env_params), key_updates

    return jax.vmap(init_one)(keys, hparams)


def _train_chunk(learner, keys_updates, states, hparams, env_params, num_updates):
    def run_one(key, state, hp):
        return train_from(learner, key, state, hp, env_params, num_updates)

    return jax.vmap(run_one)(keys_updates, states, hparams)


_init_jit = jax.jit(_init_population, static_argnums=0)
_chunk_jit = jax.jit(_train_chunk, static_argnums=(0, 5), donate_argnums=(2,))


def population_keys(key, population_size: int):
    """One training key per member: `[population_size]` keys."""
    return jax.random.split(key, population_size)


def train_population(
    learner,
    key,
    hparams,
    env_params,
    num_updates: int,
    chunk_size: int = 10,
    progress_fn: Callable[[int, dict], None] | None = None,
    mesh=None,
):
    """Train every member of `hparams` (leaves `[pop]`) for `num_updates`.

    Member i trains with key `split(key, pop)[i]`, exactly as the unbatched
    `train(learner, keys[i], hparams[i], env_params, num_updates)`. The
    population is sharded over `mesh` (default: all devices).

    Returns `(states, metrics, info)`: final learner states (leaves `[pop, ...]`),
    host metrics `{name: np.ndarray [pop, num_updates]}`, and timings in `info`
    (`compile_s` is the wall time of the first chunk minus a steady chunk's).
    """
    pop = int(jax.tree_util.tree_leaves(hparams)[0].shape[0])
    if pop <= 0:
        raise ValueError(f"population_size must be positive, got {pop}")
    if num_updates <= 0:
        raise ValueError(f"num_updates must be positive, got {num_updates}")
    mesh = population_mesh() if mesh is None else mesh
    size = padded_size(pop, mesh)
    keys = pad_population(population_keys(key, pop), pop, size)
    hparams = shard_population(pad_population(hparams, pop, size), mesh)
    keys = shard_population(keys, mesh)
    env_params = replicate(env_params, mesh)
    chunk = equal_chunk_size(num_updates, chunk_size)
    states, keys_updates = _init_jit(learner, keys, hparams, env_params)
    chunks, times, done = [], [], 0
    while done < num_updates:
        start = time.perf_counter()
        states, metrics = _chunk_jit(
            learner, keys_updates, states, hparams, env_params, chunk
        )
        metrics = jax.device_get(metrics)
        times.append(time.perf_counter() - start)
        chunks.append({k: np.asarray(v)[:pop] for k, v in metrics.items()})
        done += chunk
        if progress_fn is not None:
            progress_fn(done, chunks[-1])
    host = {k: np.concatenate([c[k] for c in chunks], axis=1) for k in chunks[0]}
    steady = float(np.median(times[1:])) if len(times) > 1 else 0.0
    info = {
        "compile_s": max(times[0] - steady, 0.0) if len(times) > 1 else times[0],
        "train_s": float(np.sum(times)),
        "steady_chunk_s": steady,
        "chunk_size": chunk,
    }
    states = jax.tree_util.tree_map(lambda x: x[:pop], states)
    return states, host, info
