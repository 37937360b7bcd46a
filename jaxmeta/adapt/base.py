"""The adapter contract (docs/architecture.md, "Adapt") and the meta-training
loop shared by every gradient-based adapter.

An adapter is a frozen, hashable dataclass of STATIC config (env, task
distribution, policy sizes, inner steps, meta-batch size, episodes per task,
horizon, first/second order, Meta-SGD, outer optimiser). Its hyperparameters
are a `flax.struct` of float arrays, so a population of meta-learners is a
`jax.vmap` over them:

    default_hparams() -> H
    init(key, hparams) -> MetaState
    meta_update(key, state, hparams) -> (MetaState, Metrics)   # one meta-iteration
    adapt(key, state, hparams, env_params, num_steps) -> returns [num_steps + 1]

The state is a pytree of arrays only. The key of meta-iteration k is
`fold_in(key, k)` (`meta_train_from`), so meta-training in chunks gives
exactly the numbers of one go.
"""

import dataclasses
from typing import Any, Protocol

import jax
import numpy as np
from flax import struct


@struct.dataclass
class MetaState:
    params: Any  # the network weights meta-learned (the initialisation)
    inner_lr: Any  # Meta-SGD: per-parameter inner rates shaped like params; ()
    opt_state: Any  # the outer optimiser's state (Adam); () for TRPO
    update_count: jax.Array  # [] int32, meta-iterations done
    diverged: jax.Array  # [] bool: a meta-update was non-finite (then frozen)


class Adapter(Protocol):
    def default_hparams(self) -> Any: ...

    def init(self, key, hparams) -> MetaState: ...

    def meta_update(self, key, state, hparams) -> tuple[MetaState, dict]: ...

    def adapt(self, key, state, hparams, env_params, num_steps: int): ...


def meta_train_from(adapter, key, state, hparams, num_iterations: int):
    """Continue meta-training `state` for `num_iterations` meta-iterations (a
    `lax.scan`). Returns `(state, metrics)`, every metric `[num_iterations]`."""

    def body(state, _):
        key_k = jax.random.fold_in(key, state.update_count)
        return adapter.meta_update(key_k, state, hparams)

    return jax.lax.scan(body, state, None, length=num_iterations)


def meta_train(adapter, key, hparams, num_iterations: int):
    """Initialise and meta-train. Unbatched: vmap over `key`/`hparams` for a
    population. Returns `(state, metrics)`, metrics `[num_iterations]` each."""
    key_init, key_iterations = jax.random.split(key)
    state = adapter.init(key_init, hparams)
    return meta_train_from(adapter, key_iterations, state, hparams, num_iterations)


def static_key(value):
    """A hashable stand-in for a static config value: itself when hashable,
    else its fields (dataclasses) or its pytree leaves as bytes (a task
    distribution's base params hold arrays, e.g. Navigation2D's goal)."""
    try:
        hash(value)
        return value
    except TypeError:
        pass
    registered = jax.tree_util.all_leaves([value])  # not a pytree node
    if dataclasses.is_dataclass(value) and registered:
        fields = dataclasses.fields(value)
        return (type(value), tuple(static_key(getattr(value, f.name)) for f in fields))
    leaves, treedef = jax.tree_util.tree_flatten(value)
    arrays = [np.asarray(leaf) for leaf in leaves]
    return (treedef, tuple((a.shape, str(a.dtype), a.tobytes()) for a in arrays))


class StaticConfig:
    """Equality and hashing by `static_key` of every dataclass field, so equal
    configs share compiled programs (subclasses: `dataclass(eq=False)`)."""

    def _static_key(self):
        fields = dataclasses.fields(self)
        return (type(self), tuple(static_key(getattr(self, f.name)) for f in fields))

    def __eq__(self, other):
        return type(other) is type(self) and self._static_key() == other._static_key()

    def __hash__(self):
        return hash(self._static_key())
