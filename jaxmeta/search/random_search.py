"""Random search: every ask draws a fresh population uniformly in the
unconstrained box of the search space (log-uniform for LogUniform dims, ...)."""

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
from flax import struct

from jaxmeta.search.base import (
    check_scores,
    check_searcher_config,
    empty_record,
    population_z,
    record_tell,
    rescored_record,
    sanitise_scores,
    tell_metrics,
)
from jaxmeta.search.space import SearchSpace
from jaxmeta.types import Array, Key, Metrics, PyTree


@struct.dataclass
class RandomSearchParams:
    """Random search has no tunable meta-parameters."""


@struct.dataclass
class RandomSearchState:
    best_z: Array  # [dim] best point so far (base projected into the box at init)
    best_score: Array  # [] float32, -inf until a finite score is told
    generation: Array  # [] int32, number of tells so far


@dataclasses.dataclass(frozen=True)
class RandomSearch:
    """Uniform random search over `space`, `population_size` configs per ask."""

    space: SearchSpace
    population_size: int

    def __post_init__(self):
        check_searcher_config(self.space, self.population_size)

    def default_meta_params(self) -> RandomSearchParams:
        return RandomSearchParams()

    @partial(jax.jit, static_argnames=("self",))
    def init(self, key: Key, meta_params: RandomSearchParams) -> RandomSearchState:
        """Empty record: best_z = base in the box, best_score = -inf."""
        return RandomSearchState(**empty_record(self.space))

    @partial(jax.jit, static_argnames=("self",))
    def ask(
        self, key: Key, state: RandomSearchState, meta_params: RandomSearchParams
    ) -> tuple[PyTree, RandomSearchState]:
        """-> (hparams with leaves `[population_size]`, unchanged state)."""
        z = self.space.sample(key, self.population_size)
        return self.space.to_hparams(z), state

    @partial(jax.jit, static_argnames=("self",))
    def tell(
        self,
        key: Key,
        hparams_population: PyTree,
        scores: Array,
        state: RandomSearchState,
        meta_params: RandomSearchParams,
    ) -> tuple[RandomSearchState, Metrics]:
        """Record the best of `scores: [pop]` (higher is better; NaN/inf = failed)."""
        z = population_z(self.space, hparams_population, self.population_size)
        scores, invalid = sanitise_scores(check_scores(scores, self.population_size))
        state = state.replace(**record_tell(state, z, scores))
        return state, tell_metrics(scores, invalid, state.best_score)

    def rescore(self, state, z: Array, scores: Array, mask: Array):
        """Every told point's score replaced (see `Searcher.rescore`): only the
        best-so-far record depends on past scores here."""
        return state.replace(**rescored_record(self.space, z, scores, mask))

    def trial_mask(self, state) -> Array:
        """[pop] bool: every member of an ask is a real trial."""
        return jnp.ones(self.population_size, bool)

    def best_hparams(self, state: RandomSearchState) -> PyTree:
        """The best config seen so far, unbatched hparams."""
        return self.space.to_hparams(state.best_z)
