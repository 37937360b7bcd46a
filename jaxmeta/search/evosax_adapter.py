"""Any evosax (>= 0.3) strategy as a jaxmeta searcher.

The strategy searches the unconstrained vector `z` of the search space, rescaled
so that the box is `[-1, 1]^dim` (`z = centre + half_width * x`): one step size
then means the same fraction of every dimension's range. Points the strategy
proposes outside the box are clipped by `space.to_hparams`; the strategy is told
about its own unclipped proposals (kept in the state), so its sampling
statistics stay correct, while `best_z` records the clipped points that were
actually evaluated. `tell` must therefore receive the population of the
preceding `ask`, as in evosax.

evosax minimises fitness; jaxmeta maximises scores. This is the one place that
negates: `fitness = -score`. A NaN or infinite score (a failed run) becomes a
finite fitness worse than every finite one in its generation (worst finite
fitness plus the generation's finite spread, or plus 1 when they are all
equal), so it never poisons the strategy's state.

Distribution-based strategies start with their mean at the box centre;
population-based ones (GA, DE, PSO, ...) start from a population uniform in the
box that counts as unevaluated (all members tied at fitness 0).
"""

import dataclasses
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from evosax.algorithms import algorithms as evosax_algorithms
from evosax.algorithms import population_based_algorithms
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
from jaxmeta.validation import unknown_name

# Initial step size in the rescaled box [-1, 1]^dim, for strategies whose params
# have `std_init`: a quarter of the box width, so the first population spreads
# over the box without most of it being clipped to the faces.
DEFAULT_STD_INIT = 0.5


@struct.dataclass
class EvosaxSearchState:
    strategy_state: Any  # the evosax strategy's own state
    asked_x: Array  # [pop, dim] last proposals in the rescaled box coordinates
    best_z: Array  # [dim] best evaluated point so far (unconstrained)
    best_score: Array  # [] float32, -inf until a finite score is told
    generation: Array  # [] int32, number of tells so far


def strong_types(tree: PyTree) -> PyTree:
    """Drop weak types (evosax starts counters and bounds from Python numbers),
    so the state keeps one abstract type across generations and ask/tell trace
    once."""
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.asarray(x).dtype), tree)


def scores_to_fitness(scores: Array) -> Array:
    """`scores: [pop]` (maximised, maybe NaN) -> evosax fitness `[pop]`
    (minimised, finite)."""
    fitness = -scores
    finite = jnp.isfinite(fitness)
    any_finite = jnp.any(finite)
    worst = jnp.max(jnp.where(finite, fitness, -jnp.inf))
    best = jnp.min(jnp.where(finite, fitness, jnp.inf))
    spread = worst - best
    fill = jnp.where(any_finite, worst + jnp.where(spread > 0, spread, 1.0), 0.0)
    return jnp.where(finite, fitness, fill)


@dataclasses.dataclass(frozen=True)
class EvosaxSearch:
    """`strategy` names an evosax algorithm (`evosax.algorithms.algorithms`,
    e.g. "CMA_ES", "Sep_CMA_ES", "SNES", "Open_ES", "DifferentialEvolution",
    "PSO"); `strategy_kwargs` go to its constructor (a dict or tuple of pairs;
    values must be hashable)."""

    space: SearchSpace
    population_size: int
    strategy: str = "CMA_ES"
    strategy_kwargs: Any = ()
    _es: Any = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self):
        check_searcher_config(self.space, self.population_size)
        if self.space.dim < 1:
            raise ValueError(
                "space must have at least one continuous dim for EvosaxSearch"
            )
        if self.strategy not in evosax_algorithms:
            raise unknown_name("evosax strategy", self.strategy, evosax_algorithms)
        try:
            kwargs = tuple(sorted(dict(self.strategy_kwargs).items()))
            hash(kwargs)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"strategy_kwargs must be a dict of hashable values, got "
                f"{self.strategy_kwargs!r}"
            ) from err
        object.__setattr__(self, "strategy_kwargs", kwargs)
        try:
            es = evosax_algorithms[self.strategy](
                population_size=self.population_size,
                solution=jnp.zeros(self.space.dim),
                **dict(kwargs),
            )
        except (AssertionError, TypeError) as err:  # evosax validates with asserts
            raise ValueError(
                f"population_size={self.population_size} or strategy_kwargs "
                f"rejected by evosax {self.strategy}: {err}"
            ) from err
        object.__setattr__(self, "_es", es)

    @property
    def is_population_based(self) -> bool:
        return self.strategy in population_based_algorithms

    def _box(self) -> tuple[Array, Array]:
        low, high = self.space.bounds
        return (low + high) / 2, (high - low) / 2

    @partial(jax.jit, static_argnames=("self",))
    def default_meta_params(self) -> Any:
        """The strategy's default params, with `std_init` (where it has one) set
        to `DEFAULT_STD_INIT` for the rescaled box. (Jitted: evosax computes
        them with many small ops, which compile one by one when eager.)"""
        params = self._es.default_params
        if hasattr(params, "std_init"):
            params = params.replace(std_init=DEFAULT_STD_INIT)
        return strong_types(params)

    @partial(jax.jit, static_argnames=("self",))
    def init(self, key: Key, meta_params: Any) -> EvosaxSearchState:
        """Strategy state at the box centre (or a uniform population)."""
        pop, dim = self.population_size, self.space.dim
        if self.is_population_based:
            x = jax.random.uniform(key, (pop, dim), jnp.float32, -1.0, 1.0)
            es_state = self._es.init(key, x, jnp.zeros(pop), meta_params)
        else:
            es_state = self._es.init(key, jnp.zeros(dim), meta_params)
        return EvosaxSearchState(
            strategy_state=strong_types(es_state),
            asked_x=jnp.zeros((pop, dim), jnp.float32),
            **empty_record(self.space),
        )

    @partial(jax.jit, static_argnames=("self",))
    def ask(
        self, key: Key, state: EvosaxSearchState, meta_params: Any
    ) -> tuple[PyTree, EvosaxSearchState]:
        """-> (hparams `[pop]` of the strategy's proposals, clipped to the box;
        state holding the unclipped proposals)."""
        x, es_state = self._es.ask(key, state.strategy_state, meta_params)
        x = jnp.asarray(x, jnp.float32)
        centre, half_width = self._box()
        hparams = self.space.to_hparams(centre + half_width * x)
        es_state = strong_types(es_state)
        return hparams, state.replace(strategy_state=es_state, asked_x=x)

    @partial(jax.jit, static_argnames=("self",))
    def tell(
        self,
        key: Key,
        hparams_population: PyTree,
        scores: Array,
        state: EvosaxSearchState,
        meta_params: Any,
    ) -> tuple[EvosaxSearchState, Metrics]:
        """Update the strategy with `scores: [pop]` (higher is better; NaN/inf =
        failed) and record the best evaluated point."""
        z = population_z(self.space, hparams_population, self.population_size)
        scores = check_scores(scores, self.population_size)
        fitness = scores_to_fitness(scores)
        es_state, _ = self._es.tell(
            key, state.asked_x, fitness, state.strategy_state, meta_params
        )
        scores, invalid = sanitise_scores(scores)
        state = state.replace(
            strategy_state=strong_types(es_state), **record_tell(state, z, scores)
        )
        return state, tell_metrics(scores, invalid, state.best_score)

    def rescore(self, state, z: Array, scores: Array, mask: Array):
        """Every told point's score replaced (see `Searcher.rescore`). Only the
        best-so-far record is recomputed: the strategy's own state was built
        from each generation's fitness, whose order a renormalisation of
        returns does not change."""
        return state.replace(**rescored_record(self.space, z, scores, mask))

    def trial_mask(self, state) -> Array:
        """[pop] bool: every member of an ask is a real trial."""
        return jnp.ones(self.population_size, bool)

    def best_hparams(self, state: EvosaxSearchState) -> PyTree:
        """The best config seen so far, unbatched hparams."""
        return self.space.to_hparams(state.best_z)
