"""The learner contract and the training loop shared by every inner learner.

A learner is a frozen, hashable dataclass of STATIC config (env, network sizes,
rollout shape). Its hyperparameters are a `flax.struct` dataclass of float
arrays, so a population is one `jax.vmap` over them:

    default_hparams() -> H
    init(key, hparams, env_params) -> S
    update(key, state, hparams, env_params) -> (S, Metrics)
    act(key, state, obs) -> action

Every state has an `update_count` ([] int32) and a `diverged` flag ([] bool).
The key of update k is `fold_in(key, k)`, so training in chunks gives exactly
the numbers of training in one go.
"""

import dataclasses
from typing import Any, Protocol

import jax
import jax.numpy as jnp


class Learner(Protocol):
    def default_hparams(self) -> Any: ...

    def init(self, key, hparams, env_params) -> Any: ...

    def update(self, key, state, hparams, env_params) -> tuple[Any, dict]: ...

    def act(self, key, state, obs) -> jax.Array: ...


def split_train_key(key):
    """`key -> (key_init, key_updates)` as used by `train`."""
    key_init, key_updates = jax.random.split(key)
    return key_init, key_updates


def train_from(learner, key_updates, state, hparams, env_params, num_updates: int):
    """Continue training `state` for `num_updates` updates (a `lax.scan`).

    Returns `(state, metrics)` with every metric stacked to `[num_updates]`.
    """

    def body(state, _):
        key = jax.random.fold_in(key_updates, state.update_count)
        return learner.update(key, state, hparams, env_params)

    return jax.lax.scan(body, state, None, length=num_updates)


def train(learner, key, hparams, env_params, num_updates: int):
    """Initialise and train for `num_updates` updates.

    Unbatched: vmap it over `key`/`hparams` (and `env_params`) for a population.
    Returns `(state, metrics)`, metrics `[num_updates]` each.
    """
    key_init, key_updates = split_train_key(key)
    state = learner.init(key_init, hparams, env_params)
    return train_from(learner, key_updates, state, hparams, env_params, num_updates)


def hparams_with(base, **values):
    """A copy of the hparams `base` with named fields replaced (as float32 arrays).

    Raises ValueError naming a field `base` does not have, and the allowed ones.
    """
    names = [f.name for f in dataclasses.fields(base)]
    for name in values:
        if name not in names:
            raise ValueError(
                f"unknown hyperparameter {name!r} for {type(base).__name__}; "
                f"allowed values: {', '.join(names)}"
            )
    cast = {k: jnp.asarray(v, jnp.float32) for k, v in values.items()}
    return base.replace(**cast)


def keep_if_finite(old_state, new_state, params_of):
    """Guard against divergence: reject an update whose parameters are not finite.

    A diverged member keeps its last finite parameters and stays flagged, so one
    NaN never crashes or poisons a vmapped population. Returns the state to keep.
    """
    leaves = jax.tree_util.tree_leaves(params_of(new_state))
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))
    accept = jnp.logical_and(finite, jnp.logical_not(old_state.diverged))
    kept = jax.tree_util.tree_map(
        lambda n, o: jnp.where(accept, n, o), new_state, old_state
    )
    return kept.replace(
        diverged=jnp.logical_or(old_state.diverged, jnp.logical_not(finite)),
        update_count=new_state.update_count,
        env=new_state.env,
    )


def check_positive_ints(**fields):
    """Raise ValueError naming the first field that is not a positive int."""
    for name, value in fields.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
