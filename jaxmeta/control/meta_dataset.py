"""The trust-region meta-dataset of seeds/002: meta-trajectories of
`Controlled(EpisodicTRPO, controller)` runs, as FQI tuples.

`meta_trajectories` trains a batch of runs, one per (key, task), in one
jitted program (runs are a vmap, updates a scan) and records per update t:
phi_t (the 22 metafeatures the controller read), lambda_t (the hparam it
set), J_t and J_{t+1}, phi_{t+1}. With `UniformRandom` it gives the seed's
random-KL training runs; with `Constant` (a fixed KL) or `FQIController`
(the meta-KL) the evaluation curves of the experiment.

Architectures change the policy's shapes, so each is its own program; their
runs are concatenated with `concatenate` (an `arch` index per run).
`to_tuples` flattens runs to FQI transitions (phi_t, lambda_t,
J_{t+1} - J_t, phi_{t+1}); `save` / `load` write and read them as npz.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmeta.control.metafeatures import META_NAMES
from jaxmeta.models.fqi import Transitions


class MetaRuns(NamedTuple):
    features: np.ndarray  # [R, T, F] phi_t, read before update t
    action: np.ndarray  # [R, T] lambda_t
    returns: np.ndarray  # [R, T + 1] J_0 .. J_T
    next_features: np.ndarray  # [R, T, F] phi_{t+1}
    arch: np.ndarray  # [R] int: index of the run's policy architecture
    failed: np.ndarray  # [R] bool: the run diverged (its tuples are dropped)


def _one_run(learner, field, num_updates, key, hparams, env_params):
    state = learner.init(key, hparams, env_params)
    first_return = state.signals["episode_return"]  # J_0

    def step(state, key):
        phi = _phi(state.signals)
        state, metrics = learner.update(key, state, hparams, env_params)
        record = {
            "phi": phi,
            "action": metrics[f"control/{field}"],
            "J_next": metrics["episode_return"],
            "phi_next": _phi(state.signals),
        }
        return state, record

    keys = jax.random.split(jax.random.fold_in(key, 1), num_updates)
    state, records = jax.lax.scan(step, state, keys)
    return first_return, records, state.diverged


def _phi(signals):
    return jnp.stack([jnp.asarray(signals[n], jnp.float32) for n in META_NAMES])


def meta_trajectories(
    learner, keys, hparams, env_params, num_updates: int, field: str = "max_kl"
) -> MetaRuns:
    """Train R runs of a `Controlled(EpisodicTRPO, ...)` learner and record
    their meta-trajectories.

    keys: [R] keys; hparams: the Controlled hparams, leaves unbatched or [R];
    env_params: the task of every run, leaves [R] (e.g. a task distribution's
    samples) or unbatched (one task). Returns `MetaRuns` (arch all 0).
    """
    if num_updates < 1:
        raise ValueError(f"num_updates must be >= 1, got {num_updates!r}")
    axes_h = _batch_axes(hparams, keys.shape[0])
    axes_e = _batch_axes(env_params, keys.shape[0])
    first_return, records, diverged = _run_batch(
        learner, field, num_updates, keys, hparams, env_params, (axes_h, axes_e)
    )
    returns = jnp.concatenate([first_return[:, None], records["J_next"]], axis=1)
    records, returns, diverged = jax.device_get((records, returns, diverged))
    finite = np.isfinite(returns).all(1) & np.isfinite(records["phi_next"]).all((1, 2))
    return MetaRuns(
        features=np.asarray(records["phi"]),
        action=np.asarray(records["action"]),
        returns=np.asarray(returns),
        next_features=np.asarray(records["phi_next"]),
        arch=np.zeros(keys.shape[0], np.int32),
        failed=np.asarray(diverged) | ~finite,
    )


def _batch_axes(tree, size):
    leaves = jax.tree_util.tree_leaves(tree)
    batched = all(jnp.ndim(x) >= 1 and jnp.shape(x)[0] == size for x in leaves)
    return 0 if leaves and batched else None


def _run_batch_impl(learner, field, num_updates, keys, hparams, env_params, axes):
    run = jax.vmap(
        lambda k, h, e: _one_run(learner, field, num_updates, k, h, e),
        in_axes=(0, *axes),
    )
    return run(keys, hparams, env_params)


_run_batch = jax.jit(_run_batch_impl, static_argnums=(0, 1, 2, 6))


def concatenate(runs: list[MetaRuns]) -> MetaRuns:
    """The runs of several architectures, `arch` = their position in `runs`
    (all of one length T)."""
    if not runs:
        raise ValueError("concatenate needs at least one MetaRuns")
    parts = [
        r._replace(arch=np.full(len(r.arch), i, np.int32)) for i, r in enumerate(runs)
    ]
    return MetaRuns(*(np.concatenate(f, axis=0) for f in zip(*parts, strict=True)))


def to_tuples(runs: MetaRuns, select=None) -> Transitions:
    """FQI transitions of every update of every selected, finished run:
    obs = phi_t [n, F], action = lambda_t [n], reward = J_{t+1} - J_t,
    next_obs = phi_{t+1}, done = 0 (runs are cut, not terminated).
    select: [R] bool (default: all runs); failed runs are dropped."""
    keep = ~runs.failed if select is None else (np.asarray(select) & ~runs.failed)
    reward = np.diff(runs.returns, axis=1)[keep]
    if reward.size == 0:
        raise ValueError("the meta-dataset holds no tuples (no finished run selected)")
    width = runs.features.shape[-1]
    return Transitions(
        obs=runs.features[keep].reshape(-1, width),
        action=runs.action[keep].reshape(-1),
        reward=reward.reshape(-1).astype(np.float32),
        next_obs=runs.next_features[keep].reshape(-1, width),
        done=np.zeros(reward.size, np.float32),
    )


def curves(runs: MetaRuns, groups: int = 1) -> dict:
    """Learning curves of runs made of `groups` equal blocks: J [groups, R,
    T + 1] (NaN for failed runs) and the controlled hparam [groups, R, T]."""
    per_group = runs.returns.shape[0] // groups
    returns = np.where(runs.failed[:, None], np.nan, runs.returns)
    return {
        "J": returns.reshape(groups, per_group, -1),
        "kl": runs.action.reshape(groups, per_group, -1),
    }


def save(path, runs: MetaRuns) -> None:
    """Write the runs to an npz file (every field by name)."""
    np.savez_compressed(path, **runs._asdict())


def load(path) -> MetaRuns:
    """Read runs written by `save`."""
    with np.load(path) as data:
        missing = [f for f in MetaRuns._fields if f not in data]
        if missing:
            raise ValueError(f"{path} is not a meta-dataset: missing {missing}")
        return MetaRuns(**{f: data[f] for f in MetaRuns._fields})
