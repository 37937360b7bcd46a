"""GP Bayesian optimisation on the unit cube: propose a batch, store its scores.

The core shared by the `search.bayes` searcher (which maps a SearchSpace's box
onto the cube) and `score.calibrate` (which fits the HyperScore's shape). A GP
(Matern-5/2 or RBF, ARD) is fitted on every proposal, warm-started from the
previous fit. Until `num_initial` valid scores are stored the proposal is a
Latin-hypercube batch; afterwards log-EI or UCB is maximised (random candidates
plus projected Adam) and the batch is filled by Kriging believer. Scores are
maximised; non-finite ones are never stored. Observations live in a static
buffer of `max_observations` slots; when it is full the lowest scores go.
"""

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import struct

from jaxmeta.models.acquisition import ACQUISITIONS, propose_batch
from jaxmeta.models.gp import GPConfig, GPHyperparams, fit_gp, make_hyperparams
from jaxmeta.types import Array, Key


@struct.dataclass
class BayesMetaParams:
    """Traced knobs: ucb_beta (UCB = mean + sqrt(beta) std, standardised units),
    local_scale (std of candidate perturbations around good points, unit cube),
    refine_learning_rate (Adam rate of the acquisition refinement)."""

    ucb_beta: Array = 4.0
    local_scale: Array = 0.05
    refine_learning_rate: Array = 0.02


@struct.dataclass
class UnitCubeObservations:
    """unit_x: [max_observations, dim] stored points; scores: [max_observations];
    mask: [max_observations] which slots hold a valid score; hyperparams: the
    last GP fit."""

    unit_x: Array
    scores: Array
    mask: Array
    hyperparams: GPHyperparams


def latin_hypercube(key: Key, n: int, dim: int) -> Array:
    """[n, dim] Latin-hypercube sample of the unit cube."""
    key_perm, key_jitter = jax.random.split(key)
    perms = jax.vmap(lambda k: jax.random.permutation(k, n))(
        jax.random.split(key_perm, dim)
    )
    jitter = jax.random.uniform(key_jitter, (dim, n))
    return ((perms + jitter) / n).T


@dataclass(frozen=True)
class UnitCubeBayesOpt:
    """Static configuration of batched GP Bayesian optimisation on [0, 1]^dim.

    batch_size: points per proposal (q; > 1 uses Kriging believer).
    acquisition: "ei" (log expected improvement) or "ucb".
    max_observations: static buffer size. num_initial: valid scores needed before
    the GP is used (None: batch_size). num_candidates, num_refine, refine_steps:
    acquisition maximisation. kernel, num_restarts, fit_steps, fit_learning_rate:
    GP fitting (see `models.gp.GPConfig`; a Gamma(3, 6) prior on the unit-cube
    lengthscales keeps ARD fits on few points sensible).
    """

    dim: int
    batch_size: int
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
        if self.acquisition not in ACQUISITIONS:
            raise ValueError(
                f"acquisition must be one of {ACQUISITIONS}, got {self.acquisition!r}"
            )
        positive = (
            "dim", "batch_size", "max_observations", "num_candidates", "num_refine",
            "refine_steps",
        )  # fmt: skip
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
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

    def empty(self) -> UnitCubeObservations:
        """No observations yet; a neutral GP fit to warm-start from."""
        size = self.max_observations
        return UnitCubeObservations(
            unit_x=jnp.zeros((size, self.dim)),
            scores=jnp.zeros(size),
            mask=jnp.zeros(size, bool),
            hyperparams=make_hyperparams(jnp.full(self.dim, 0.3), 1.0, 1e-3),
        )

    def propose(
        self, key: Key, observed: UnitCubeObservations, meta_params: BayesMetaParams
    ) -> tuple[Array, GPHyperparams]:
        """[batch_size, dim] proposals and the GP hyperparameters they used."""
        key_design, key_fit, key_acq = jax.random.split(key, 3)
        batch, dim, size = self.batch_size, self.dim, self.max_observations
        num_initial = self.num_initial or batch

        def design(_):
            return latin_hypercube(key_design, batch, dim), observed.hyperparams

        def optimise(_):
            # The buffer gets `batch` masked slots for the Kriging-believer fantasies.
            x = jnp.concatenate([observed.unit_x, jnp.zeros((batch, dim))])
            y = jnp.concatenate([observed.scores, jnp.zeros(batch)])
            mask = jnp.concatenate([observed.mask, jnp.zeros(batch, bool)])
            posterior = fit_gp(
                key_fit, x, y, mask, self.gp_config,
                jnp.zeros(dim), jnp.ones(dim), observed.hyperparams,
            )  # fmt: skip
            num_anchors = min(8, size)
            _, anchor_index = jax.lax.top_k(
                jnp.where(observed.mask, observed.scores, -jnp.inf), num_anchors
            )
            points = propose_batch(
                key_acq, self.acquisition, posterior, observed.unit_x[anchor_index],
                meta_params, size, batch, self.num_candidates, self.num_refine,
                self.refine_steps,
            )  # fmt: skip
            return points, posterior.hyperparams

        enough = jnp.sum(observed.mask) >= num_initial
        return jax.lax.cond(enough, optimise, design, None)

    def store(
        self, observed: UnitCubeObservations, unit_x: Array, scores: Array
    ) -> UnitCubeObservations:
        """Add a batch: unit_x [batch, dim] (clipped to the cube), scores [batch];
        non-finite scores are dropped. Works on any subclass of the state."""
        valid = jnp.isfinite(scores)
        all_x = jnp.concatenate([observed.unit_x, jnp.clip(unit_x, 0.0, 1.0)])
        all_scores = jnp.concatenate([observed.scores, jnp.where(valid, scores, 0.0)])
        all_mask = jnp.concatenate([observed.mask, valid])
        # Keep valid entries first, best first, so a full buffer drops the worst.
        order = jnp.argsort(jnp.where(all_mask, -all_scores, jnp.inf), stable=True)
        keep = order[: self.max_observations]
        return observed.replace(
            unit_x=all_x[keep], scores=all_scores[keep], mask=all_mask[keep]
        )
