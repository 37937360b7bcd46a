"""Pieces every ask/tell searcher shares: the protocol, validation, NaN-safe
scores, the best-so-far record and the `meta/` metrics.

Scores are maximised (see `jaxmeta.types`). A NaN or infinite score is a failed
run: it is replaced by -inf before anything reads it, so it can never become the
best and never enters a mean.
"""

from typing import Any, Protocol

import jax.numpy as jnp

from jaxmeta.search.space import SearchSpace
from jaxmeta.types import Array, Key, Metrics, PyTree


class Searcher(Protocol):
    """A frozen, hashable dataclass of static config (jit it with `self`
    static); traced numbers live in `meta_params` and the state. Hparams
    populations have a leading axis of `population_size`; scores are `[pop]`,
    higher is better.

    Two hooks serve the run layer: `rescore(state, z, scores, mask)` replaces
    the scores the searcher remembers of every point told so far (z [n, dim],
    scores [n], mask [n]), used when scores are normalised over all evaluated
    members and the normalisation moves; `trial_mask(state)` [pop] bool marks
    which members of the last ask are real trials (grid padding is not)."""

    space: SearchSpace
    population_size: int

    def default_meta_params(self) -> Any: ...

    def init(self, key: Key, meta_params: Any) -> Any: ...

    def ask(self, key: Key, state: Any, meta_params: Any) -> tuple[PyTree, Any]: ...

    def tell(
        self,
        key: Key,
        hparams_population: PyTree,
        scores: Array,
        state: Any,
        meta_params: Any,
    ) -> tuple[Any, Metrics]: ...

    def rescore(self, state: Any, z: Array, scores: Array, mask: Array) -> Any: ...

    def trial_mask(self, state: Any) -> Array: ...


def check_searcher_config(space: SearchSpace, population_size: int) -> None:
    """Plain-Python validation shared by every searcher's `__post_init__`."""
    if not isinstance(space, SearchSpace):
        raise ValueError(f"space must be a SearchSpace, got {type(space).__name__}")
    if (
        isinstance(population_size, bool)
        or not isinstance(population_size, int)
        or population_size <= 0
    ):
        raise ValueError(
            f"population_size must be a positive int (allowed: >= 1), "
            f"got {population_size!r}"
        )


def initial_best(space: SearchSpace) -> Array:
    """`[dim]`: `space.base` projected into the box, the record before any tell
    (the box centre for a base value outside a transform's domain)."""
    low, high = space.bounds
    z = jnp.clip(space.from_hparams(space.base), low, high)
    return jnp.where(jnp.isnan(z), (low + high) / 2, z)


def population_z(space: SearchSpace, hparams: PyTree, population_size: int) -> Array:
    """hparams with leaves `[pop]` -> `z: [pop, dim]`, checking the leading axis."""
    z = space.from_hparams(hparams)
    if z.shape != (population_size, space.dim):
        raise ValueError(
            f"hparams_population must have leading axis population_size="
            f"{population_size}, got z of shape {z.shape}"
        )
    return z


def check_scores(scores: Array, population_size: int) -> Array:
    """Shape-check `scores: [pop]` at trace time; return them as float32."""
    scores = jnp.asarray(scores, jnp.float32)
    if scores.shape != (population_size,):
        raise ValueError(
            f"scores must have shape [population_size] = ({population_size},), "
            f"got {scores.shape}"
        )
    return scores


def sanitise_scores(scores: Array) -> tuple[Array, Array]:
    """`scores: [pop]` -> (scores with non-finite replaced by -inf, invalid mask)."""
    invalid = ~jnp.isfinite(scores)
    return jnp.where(invalid, -jnp.inf, scores), invalid


def empty_record(space: SearchSpace) -> dict:
    """The best-so-far fields every searcher state starts with: best_z [dim]
    (see `initial_best`), best_score [] = -inf, generation [] = 0."""
    return {
        "best_z": initial_best(space),
        "best_score": jnp.float32(-jnp.inf),
        "generation": jnp.int32(0),
    }


def record_tell(state, z: Array, scores: Array) -> dict:
    """The best-so-far fields after one tell: `update_best` on z: [pop, dim] and
    sanitised scores: [pop], and the generation counted up."""
    best_z, best_score = update_best(z, scores, state.best_z, state.best_score)
    return {
        "best_z": best_z,
        "best_score": best_score,
        "generation": state.generation + 1,
    }


def update_best(
    z: Array, scores: Array, best_z: Array, best_score: Array
) -> tuple[Array, Array]:
    """Best-so-far record.

    z: [pop, dim] evaluated points; scores: [pop] sanitised (failed = -inf);
    best_z: [dim]; best_score: []. Strictly better only, so ties keep the older.
    """
    i = jnp.argmax(scores)
    better = scores[i] > best_score
    return (
        jnp.where(better, z[i], best_z),
        jnp.where(better, scores[i], best_score),
    )


def tell_metrics(
    scores: Array, invalid: Array, best_score: Array, counted: Array | None = None
) -> Metrics:
    """`meta/` metrics of one generation: `meta/best_score` (best so far),
    `meta/generation_best_score` (-inf if every member failed),
    `meta/generation_mean_score` over finite scores (NaN if none) and
    `meta/num_invalid` (count of NaN/inf scores).

    scores: [pop] sanitised; invalid: [pop] bool; counted: [pop] bool members
    that belong to this generation (grid padding excluded), default all.
    """
    if counted is None:
        counted = jnp.ones(scores.shape, bool)
    valid = counted & ~invalid
    n_valid = jnp.sum(valid)
    mean = jnp.sum(jnp.where(valid, scores, 0.0)) / jnp.maximum(n_valid, 1)
    return {
        "meta/best_score": best_score,
        "meta/generation_best_score": jnp.max(jnp.where(counted, scores, -jnp.inf)),
        "meta/generation_mean_score": jnp.where(n_valid > 0, mean, jnp.nan),
        "meta/num_invalid": jnp.sum(counted & invalid).astype(jnp.int32),
    }


def rescored_record(space: SearchSpace, z: Array, scores: Array, mask: Array) -> dict:
    """The best-so-far fields (best_z, best_score) recomputed from every point
    told so far, for `Searcher.rescore`: z [n, dim], scores [n] (NaN = failed),
    mask [n] which rows are told points."""
    scores, _ = sanitise_scores(jnp.where(mask, scores, jnp.nan))
    best_z, best_score = update_best(
        z, scores, initial_best(space), jnp.float32(-jnp.inf)
    )
    return {"best_z": best_z, "best_score": best_score}
