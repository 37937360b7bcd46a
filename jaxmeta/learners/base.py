"""The learner contract and the training loop shared by every inner learner.

A learner is a frozen, hashable dataclass of STATIC config (env, network sizes,
rollout shape). Its hyperparameters are a `flax.struct` dataclass of float
arrays, so a population is one `jax.vmap` over them:

    default_hparams() -> H
    init(key, hparams, env_params) -> S
    update(key, state, hparams, env_params) -> (S, Metrics)
    act(key, state, obs, deterministic=False) -> action

Every state has an `update_count` ([] int32) and a `diverged` flag ([] bool).
The key of update k is `fold_in(key, k)`, so training in chunks gives exactly
the numbers of training in one go. An update whose env data, loss or new
parameters are not finite is rejected (`guard_update`): the member keeps its
last finite state, is flagged `diverged` for good and reports why in
`train/failure` (a `FAILURE_*` code, at the update it failed).
"""

import dataclasses
from typing import Any, Protocol

import jax
import jax.numpy as jnp

from jaxmeta.validation import check_in_domains


class Learner(Protocol):
    def default_hparams(self) -> Any: ...

    def init(self, key, hparams, env_params) -> Any: ...

    def update(self, key, state, hparams, env_params) -> tuple[Any, dict]: ...

    def act(self, key, state, obs, deterministic: bool = False) -> jax.Array: ...


# Why a member failed, as reported in `train/failure` and members.csv. The root
# cause wins: parameters that were already non-finite, else bad env data, which
# makes the loss and then the new parameters non-finite.
FAILURE_NONE = 0
FAILURE_ENV = 1
FAILURE_LOSS = 2
FAILURE_PARAMS = 3
FAILURE_EVAL = 4
FAILURE_REASONS = {
    FAILURE_NONE: "",
    FAILURE_ENV: "non-finite observation or reward from the env",
    FAILURE_LOSS: "non-finite loss",
    FAILURE_PARAMS: "non-finite parameters",
    FAILURE_EVAL: "non-finite evaluation return",
}


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


def all_finite(tree) -> jax.Array:
    """[] bool: every float leaf of `tree` is finite (True for no leaves)."""
    leaves = [
        jnp.all(jnp.isfinite(x))
        for x in jax.tree_util.tree_leaves(tree)
        if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)
    ]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def guard_update(old_state, new_state, loss, env_finite):
    """Reject an update whose env data, loss or parameters are not finite.

    old_state, new_state: learner states declaring `params`, `diverged`,
    `update_count` and `env`; loss: the update's losses (any pytree of arrays);
    env_finite: [] bool, the rollout's observations and rewards were finite.
    A rejected member keeps its last finite state (params, optimizer, ...) but
    the new env carry and update count, and stays `diverged`, so one NaN never
    crashes or poisons a vmapped population.

    Returns `(state, failure)`: the state to keep and failure [] int32, the
    `FAILURE_*` code of this update (FAILURE_NONE if it was accepted or the
    member had already failed before).
    """
    params_in, params_out = all_finite(old_state.params), all_finite(new_state.params)
    code = jnp.select(
        [~params_in, ~env_finite, ~all_finite(loss), ~params_out],
        [FAILURE_PARAMS, FAILURE_ENV, FAILURE_LOSS, FAILURE_PARAMS],
        FAILURE_NONE,
    ).astype(jnp.int32)
    failed = code != FAILURE_NONE
    accept = jnp.logical_and(~failed, ~old_state.diverged)
    kept = jax.tree_util.tree_map(
        lambda n, o: jnp.where(accept, n, o), new_state, old_state
    )
    kept = kept.replace(
        diverged=jnp.logical_or(old_state.diverged, failed),
        update_count=new_state.update_count,
        env=new_state.env,
    )
    return kept, jnp.where(old_state.diverged, FAILURE_NONE, code)


def env_steps(update_count, steps_per_update: int):
    """Cumulative env steps after `update_count` updates, [] int32 (exact up to
    2^31 - 1; `run/` checks a run's budget against that limit)."""
    return update_count.astype(jnp.int32) * jnp.int32(steps_per_update)


def check_hparams(learner, hparams, where: str = "hparams") -> None:
    """Concrete hparams must lie in the learner's `hparam_domains` (a dict
    name -> `validation.Domain`, e.g. ES's sigma > 0): ValueError naming the
    field and the allowed values, before anything compiles."""
    domains = getattr(learner, "hparam_domains", {})
    values = {f.name: getattr(hparams, f.name) for f in dataclasses.fields(hparams)}
    check_in_domains(where, values, domains)


def check_positive_ints(**fields):
    """Raise ValueError naming the first field that is not a positive int."""
    for name, value in fields.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
