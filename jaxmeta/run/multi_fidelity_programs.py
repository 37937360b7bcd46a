"""The jitted programs of a multi-fidelity run (`run.multi_fidelity`), each
compiled once per rung size: begin a bracket, score a rung, compact its
survivors into the next rung's population, tell the sampler. Training a
chunk is the population's own `population.train_members`.

A rung's population ("slot") is `{"hparams", "learner", "keys", "failure",
"member"}` with leaves `[size, ...]`; `member` [size] int32 is each row's
index in the bracket's ask, -1 for device padding.
"""

import dataclasses

import jax
import jax.numpy as jnp

from jaxmeta.learners.base import FAILURE_NONE
from jaxmeta.run.population import evaluate_members, start_members
from jaxmeta.run.sharding import (
    constrain_population,
    constrain_replicated,
    pad_population,
)
from jaxmeta.run.tune_scores import score_round
from jaxmeta.score import hyper_score_log_excess
from jaxmeta.search.successive_halving import promoted, survivor_order


@dataclasses.dataclass(frozen=True)
class Static:
    """What fixes the shapes and branches of the multi-fidelity programs."""

    learner: object
    sampler: object
    population: int  # configs per ask
    eval_episodes: int
    eval_max_steps: int
    eval_deterministic: bool
    bounds: tuple[float, float] | None
    mesh: object


def begin_bracket(
    static, used, size, key_ask, key_train, searcher_state, meta, env_params
):
    """Ask `population` configs; the first `used` (padded to `size`) start.

    Returns `(slot, (searcher_state, asked))`: the first rung's population
    (leaves `[size, ...]`) and, replicated, the searcher state and the ask
    `{"hparams": [population] leaves, "trial": [population] bool, "reached":
    [population] NaN}` (each member's latest return, filled in by the rungs).
    """
    hparams_all, searcher_state = static.sampler.ask(key_ask, searcher_state, meta)
    trial = static.sampler.trial_mask(searcher_state)
    trial = trial & (jnp.arange(static.population) < used)
    first = jax.tree_util.tree_map(lambda x: x[:used], hparams_all)
    hparams = pad_population(first, used, size)
    keys = pad_population(jax.random.split(key_train, used), used, size)
    slot = start_members(static.learner, keys, hparams, env_params, False)
    rows = jnp.arange(size)
    real = (rows < used) & trial[jnp.minimum(rows, static.population - 1)]
    slot["member"] = jnp.where(real, rows, -1).astype(jnp.int32)
    reached = jnp.full(static.population, jnp.nan, jnp.float32)
    asked = {"hparams": hparams_all, "trial": trial, "reached": reached}
    return constrain_population(slot, static.mesh), constrain_replicated(
        (searcher_state, asked), static.mesh
    )


def score_rung(static, key_eval, slot, reached, keep, env_params):
    """Evaluate and rank a rung of `slot` (leaves `[size, ...]`).

    reached: [population] each member's latest return (NaN = failed), updated
    with this rung's; keep: [] how many are promoted. Returns `(order [size]
    int32 best first, reached, outputs)`, outputs `[size]` per row:
    eval_return, failure_code, failure_update, member, promoted, hparams.
    """
    real = slot["member"] >= 0
    # Keyed by member, not row: the same episodes whatever the padding.
    keys = jax.vmap(jax.random.fold_in, (None, 0))(
        key_eval, jnp.maximum(slot["member"], 0)
    )
    returns, code = evaluate_members(
        static.learner,
        keys,
        slot["learner"],
        slot["failure"],
        env_params,
        static.eval_episodes,
        static.eval_max_steps,
        static.eval_deterministic,
    )
    failed = code != FAILURE_NONE
    low, high = static.bounds or (None, None)
    told = hyper_score_log_excess(
        jnp.where(failed | ~real, jnp.nan, returns), low, high
    )
    order = survivor_order(told, failed, real)
    index = jnp.where(real, slot["member"], static.population)
    reached = reached.at[index].set(jnp.where(failed, jnp.nan, returns), mode="drop")
    outputs = {
        "eval_return": returns,
        "failure_code": code,
        "failure_update": slot["failure"]["update"],
        "member": slot["member"],
        "promoted": promoted(order, keep) & real,
        "hparams": slot["hparams"],
    }
    return order, reached, constrain_replicated(outputs, static.mesh)


def compact_rung(static, size, slot, order, keep):
    """The first `keep` rows of `order` ([n] int32) gathered from `slot`
    (leaves `[n, ...]`, full learner state) into a population of `size`
    rows (`size <= n`); rows from `keep` on are padding (member -1)."""
    survivors = jax.tree_util.tree_map(lambda x: x[order[:size]], slot)
    kept = jnp.arange(size) < keep
    survivors["member"] = jnp.where(kept, survivors["member"], -1)
    return constrain_population(survivors, static.mesh)


def tell_bracket(static, key_tell, shared, meta, told_index):
    """Tell the sampler the bracket's scores (the tuner's `score_round`):
    every asked member's return at the last rung it reached, NaN for failed
    ones and those the bracket did not start. Returns the new shared state
    (searcher and history replaced)."""
    asked = shared["asked"]
    told, _ = score_round(
        static.sampler,
        static.bounds,
        key_tell,
        asked["hparams"],
        asked["reached"],
        jnp.isnan(asked["reached"]),
        asked["trial"],
        {"searcher": shared["searcher"], "history": shared["history"]},
        meta,
        told_index,
    )
    return constrain_replicated({**shared, **told}, static.mesh)


begin_jit = jax.jit(begin_bracket, static_argnums=(0, 1, 2))
score_jit = jax.jit(score_rung, static_argnums=0)
compact_jit = jax.jit(compact_rung, static_argnums=(0, 1))
tell_jit = jax.jit(tell_bracket, static_argnums=0)
