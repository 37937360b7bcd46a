"""GP Bayesian optimisation as an ask/tell searcher.

The searcher works in the search space's unconstrained box, rescaled to the unit
cube for the GP (Matern-5/2 or RBF, ARD, fitted on every `ask`, warm-started
from the previous fit). Until `num_initial` valid scores are stored it proposes a
Latin-hypercube batch; afterwards it maximises log-EI or UCB (random candidates
plus projected Adam) and fills the population by Kriging believer. Scores are
maximised. Non-finite scores are dropped in `tell`, so they never reach the GP.
Observations live in a static buffer of `max_observations` slots; when it is
full the lowest-scoring ones are replaced.
"""

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
from flax import struct

from jaxmeta.models.gp import GPConfig, GPHyperparams, fit_gp, make_hyperparams
from jaxmeta.search.acquisition import ACQUISITIONS, propose_batch
from jaxmeta.search.base import (
    check_scores,
    check_searcher_config,
    initial_best,
    population_z,
    sanitise_scores,
    tell_metrics,
    update_best,
)
from jaxmeta.search.space import SearchSpace
from jaxmeta.types import Array, Key, Metrics, PyTree


@struct.dataclass
class BayesMetaParams:
    """Traced knobs: ucb_beta (UCB = mean + sqrt(beta) std, standardised units),
    local_scale (std of candidate perturbations around good points, unit cube),
    refine_learning_rate (Adam rate of the acquisition refinement)."""

    ucb_beta: Array = 4.0
    local_scale: Array = 0.05
    refine_learning_rate: Array = 0.02


@struct.dataclass
class BayesState:
    """unit_x: [max_observations, dim] stored points in the unit cube; scores:
    [max_observations]; mask: [max_observations] which slots hold a valid score;
    num_told: [] scores received (valid or not); hyperparams: last GP fit;
    best_z: [dim] best evaluated point (unconstrained); best_score: [];
    generation: [] number of tells."""

    unit_x: Array
    scores: Array
    mask: Array
    num_told: Array
    hyperparams: GPHyperparams
    best_z: Array
    best_score: Array
    generation: Array


def latin_hypercube(key: Key, n: int, dim: int) -> Array:
    """[n, dim] Latin-hypercube sample of the unit cube."""
    key_perm, key_jitter = jax.random.split(key)
    perms = jax.vmap(lambda k: jax.random.permutation(k, n))(
        jax.random.split(key_perm, dim)
    )
    jitter = jax.random.uniform(key_jitter, (dim, n))
    return ((perms + jitter) / n).T


@dataclass(frozen=True)
class BayesSearch:
    """Static configuration of GP Bayesian optimisation.

    space: the SearchSpace (continuous dims; the GP sees its box as a unit cube).
    population_size: points per ask (q; > 1 uses Kriging believer).
    acquisition: "ei" (log expected improvement) or "ucb".
    max_observations: static buffer size. num_initial: valid scores needed before
    the GP is used (None: population_size). num_candidates, num_refine,
    refine_steps: acquisition maximisation. kernel, num_restarts, fit_steps,
    fit_learning_rate: GP fitting (see `models.gp.GPConfig`; a Gamma(3, 6) prior
    on the unit-cube lengthscales keeps ARD fits on few points sensible).
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
        if self.acquisition not in ACQUISITIONS:
            raise ValueError(
                f"acquisition must be one of {ACQUISITIONS}, got {self.acquisition!r}"
            )
        positive = (
            "max_observations", "num_candidates", "num_refine", "refine_steps",
        )  # fmt: skip
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if self.num_refine > self.num_candidates:
            raise ValueError("num_refine must be <= num_candidates")
        if self.num_initial is not None and not 1 <= self.num_initial:
            raise ValueError(f"num_initial must be >= 1, got {self.num_initial}")
        _ = self.gp_config  # validates kernel, restarts, fit steps and rate

    @property
    def gp_config(self) -> GPConfig:
        return GPConfig(
            self.kernel,
            self.num_restarts,
            self.fit_steps,
            self.fit_learning_rate,
            lengthscale_prior=(3.0, 6.0),
        )

    def default_meta_params(self) -> BayesMetaParams:
        return jax.tree_util.tree_map(jnp.asarray, BayesMetaParams())

    @partial(jax.jit, static_argnames=("self",))
    def init(self, key: Key, meta_params: BayesMetaParams) -> BayesState:
        """Empty buffer; the key is unused (kept for the searcher contract)."""
        del key, meta_params
        dim, size = self.space.dim, self.max_observations
        return BayesState(
            unit_x=jnp.zeros((size, dim)),
            scores=jnp.zeros(size),
            mask=jnp.zeros(size, bool),
            num_told=jnp.asarray(0),
            hyperparams=make_hyperparams(jnp.full(dim, 0.3), 1.0, 1e-3),
            best_z=initial_best(self.space),
            best_score=jnp.float32(-jnp.inf),
            generation=jnp.int32(0),
        )

    def propose_unit(
        self, key: Key, state: BayesState, meta_params: BayesMetaParams
    ) -> tuple[Array, GPHyperparams]:
        """[population_size, dim] unit-cube proposals and the GP hyperparameters."""
        key_design, key_fit, key_acq = jax.random.split(key, 3)
        pop, dim, size = self.population_size, self.space.dim, self.max_observations
        num_initial = self.num_initial or pop

        def design(_):
            return latin_hypercube(key_design, pop, dim), state.hyperparams

        def optimise(_):
            # The buffer gets `pop` masked slots for the Kriging-believer fantasies.
            x = jnp.concatenate([state.unit_x, jnp.zeros((pop, dim))])
            y = jnp.concatenate([state.scores, jnp.zeros(pop)])
            mask = jnp.concatenate([state.mask, jnp.zeros(pop, bool)])
            posterior = fit_gp(
                key_fit, x, y, mask, self.gp_config,
                jnp.zeros(dim), jnp.ones(dim), state.hyperparams,
            )  # fmt: skip
            num_anchors = min(8, size)
            _, anchor_index = jax.lax.top_k(
                jnp.where(state.mask, state.scores, -jnp.inf), num_anchors
            )
            points = propose_batch(
                key_acq, self.acquisition, posterior, state.unit_x[anchor_index],
                meta_params, size, pop, self.num_candidates, self.num_refine,
                self.refine_steps,
            )  # fmt: skip
            return points, posterior.hyperparams

        enough = jnp.sum(state.mask) >= num_initial
        return jax.lax.cond(enough, optimise, design, None)

    @partial(jax.jit, static_argnames=("self",))
    def ask(
        self, key: Key, state: BayesState, meta_params: BayesMetaParams
    ) -> tuple[PyTree, BayesState]:
        """hparams for a population of `population_size` (leading axis)."""
        unit, hyperparams = self.propose_unit(key, state, meta_params)
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
        unit = jnp.clip((z - low) / (high - low), 0.0, 1.0)
        all_x = jnp.concatenate([state.unit_x, unit])
        all_scores = jnp.concatenate([state.scores, jnp.where(invalid, 0.0, scores)])
        all_mask = jnp.concatenate([state.mask, ~invalid])
        # Keep valid entries first, best first, so a full buffer drops the worst.
        order = jnp.argsort(jnp.where(all_mask, -all_scores, jnp.inf), stable=True)
        keep = order[: self.max_observations]
        best_z, best_score = update_best(z, scores, state.best_z, state.best_score)
        state = state.replace(
            best_z=best_z,
            best_score=best_score,
            generation=state.generation + 1,
            unit_x=all_x[keep],
            scores=all_scores[keep],
            mask=all_mask[keep],
            num_told=state.num_told + self.population_size,
        )
        metrics = tell_metrics(scores, invalid, best_score)
        metrics["meta/num_observations"] = jnp.sum(state.mask).astype(jnp.int32)
        return state, metrics

    def best_hparams(self, state: BayesState) -> PyTree:
        """The best config seen so far, unbatched hparams."""
        return self.space.to_hparams(state.best_z)
