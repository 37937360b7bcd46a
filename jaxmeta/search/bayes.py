"""GP Bayesian optimisation as an ask/tell searcher.

The search space's unconstrained box is rescaled to the unit cube, where
`models.bayes_opt.UnitCubeBayesOpt` fits the GP and proposes each population
(Latin hypercube first, then log-EI or UCB with Kriging believer). Scores are
maximised; non-finite scores are dropped in `tell`, so they never reach the GP.
"""

from dataclasses import dataclass, fields
from functools import partial

import jax
import jax.numpy as jnp
from flax import struct

from jaxmeta.models.bayes_opt import (
    BayesMetaParams,
    UnitCubeBayesOpt,
    UnitCubeObservations,
    latin_hypercube,
)
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

__all__ = ["BayesMetaParams", "BayesSearch", "BayesState", "latin_hypercube"]


@struct.dataclass
class BayesState(UnitCubeObservations):
    """The stored observations (unit_x, scores, mask, hyperparams; see
    `UnitCubeObservations`) plus num_told: [] scores received (valid or not);
    best_z: [dim] best evaluated point (unconstrained); best_score: [];
    generation: [] number of tells."""

    num_told: Array
    best_z: Array
    best_score: Array
    generation: Array


@dataclass(frozen=True)
class BayesSearch:
    """Static configuration of GP Bayesian optimisation.

    space: the SearchSpace (continuous dims; the GP sees its box as a unit cube).
    population_size: points per ask (the optimiser's batch_size). Every other
    field is passed on to `models.bayes_opt.UnitCubeBayesOpt`, documented there.
    """

    space: SearchSpace
    population_size: int
    acquisition: str = "ei"
    max_observations: int = 128
    num_initial: int | None = None
    num_candidates: int = 512
    num_refine: int = 4
    refine_steps: int = 20
    kernel: str = "matern52"
    num_restarts: int = 2
    fit_steps: int = 100
    fit_learning_rate: float = 0.05

    def __post_init__(self):
        check_searcher_config(self.space, self.population_size)
        if self.space.dim == 0:
            raise ValueError("space must have at least one continuous dimension")
        _ = self.optimiser  # validates the remaining fields

    @property
    def optimiser(self) -> UnitCubeBayesOpt:
        passed_on = {
            field.name: getattr(self, field.name)
            for field in fields(self)
            if field.name not in ("space", "population_size")
        }
        return UnitCubeBayesOpt(self.space.dim, self.population_size, **passed_on)

    def default_meta_params(self) -> BayesMetaParams:
        return jax.tree_util.tree_map(jnp.asarray, BayesMetaParams())

    @partial(jax.jit, static_argnames=("self",))
    def init(self, key: Key, meta_params: BayesMetaParams) -> BayesState:
        """Empty buffer; the key is unused (kept for the searcher contract)."""
        del key, meta_params
        empty = self.optimiser.empty()
        return BayesState(
            **vars(empty),
            num_told=jnp.asarray(0),
            **empty_record(self.space),
        )

    @partial(jax.jit, static_argnames=("self",))
    def ask(
        self, key: Key, state: BayesState, meta_params: BayesMetaParams
    ) -> tuple[PyTree, BayesState]:
        """hparams for a population of `population_size` (leading axis)."""
        unit, hyperparams = self.optimiser.propose(key, state, meta_params)
        low, high = self.space.bounds
        z = low + unit * (high - low)
        return self.space.to_hparams(z), state.replace(hyperparams=hyperparams)

    @partial(jax.jit, static_argnames=("self",))
    def tell(
        self,
        key: Key,
        hparams_population: PyTree,
        scores: Array,
        state: BayesState,
        meta_params: BayesMetaParams,
    ) -> tuple[BayesState, Metrics]:
        """Store the finite scores ([population_size], higher is better)."""
        del key, meta_params
        low, high = self.space.bounds
        z = population_z(self.space, hparams_population, self.population_size)
        scores, invalid = sanitise_scores(check_scores(scores, self.population_size))
        unit = (z - low) / (high - low)
        state = self.optimiser.store(state, unit, jnp.where(invalid, jnp.nan, scores))
        state = state.replace(
            **record_tell(state, z, scores),
            num_told=state.num_told + self.population_size,
        )
        metrics = tell_metrics(scores, invalid, state.best_score)
        metrics["meta/num_observations"] = jnp.sum(state.mask).astype(jnp.int32)
        return state, metrics

    def rescore(self, state: BayesState, z: Array, scores: Array, mask: Array):
        """Every told point's score replaced (see `Searcher.rescore`): the
        observation buffer is rebuilt from z [n, dim], scores [n] (NaN =
        failed) and mask [n], keeping the last GP fit to warm-start from."""
        low, high = self.space.bounds
        empty = self.optimiser.empty().replace(hyperparams=state.hyperparams)
        unit = (z - low) / (high - low)
        rebuilt = self.optimiser.store(empty, unit, jnp.where(mask, scores, jnp.nan))
        return state.replace(
            unit_x=rebuilt.unit_x,
            scores=rebuilt.scores,
            mask=rebuilt.mask,
            **rescored_record(self.space, z, scores, mask),
        )

    def trial_mask(self, state: BayesState) -> Array:
        """[pop] bool: every member of an ask is a real trial."""
        return jnp.ones(self.population_size, bool)

    def best_hparams(self, state: BayesState) -> PyTree:
        """The best config seen so far, unbatched hparams."""
        return self.space.to_hparams(state.best_z)
