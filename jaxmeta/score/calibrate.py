"""Fit the HyperScore's beta, gamma, kappa by GP Bayesian optimisation.

Given a population's early normalised performance V in (0, 1] and its final
downstream performance, find the shape whose HyperScore(V) =
100 (1 + sigmoid(beta ln V + gamma)^kappa) correlates best with the final
performance (SAM-HRL-HS, seeds/000).

Which correlation. PEARSON. For beta > 0 and kappa > 0 the HyperScore is a
strictly increasing function of V, so every shape ranks the population exactly
as V does: a rank correlation (Spearman, Kendall) is the same for all of them
and there would be nothing to optimise. Pearson measures linear agreement, so it
rewards the shape that makes HyperScore a linear predictor of the final
performance; it is unchanged by the affine 100 (1 + .) wrapper.

The box searched (see `CALIBRATION_SPACE`): beta log-uniform in [0.1, 20],
gamma uniform in [-10, 10], kappa log-uniform in [0.1, 10]. With ln V for V in
[1e-3, 1] spanning [-6.9, 0], beta ranges from an almost linear sigmoid to a
near step, gamma places the sigmoid's midpoint V = exp(-gamma / beta) anywhere
in (0, 1] or beyond it, and kappa from flattening (< 1) to sharpening the top
(> 1). beta, kappa > 0 keep the score monotone in V.
"""

from functools import partial

import jax
import jax.numpy as jnp
from flax import struct

from jaxmeta.score.hyperscore import (
    DEFAULT_BETA,
    DEFAULT_GAMMA,
    DEFAULT_KAPPA,
    hyper_score_of_normalised,
)
from jaxmeta.search.bayes import BayesSearch
from jaxmeta.search.space import LogUniform, SearchSpace, Uniform
from jaxmeta.types import Array, Key


@struct.dataclass
class HyperScoreShape:
    """beta, gamma, kappa: float arrays of any common leading shape."""

    beta: Array
    gamma: Array
    kappa: Array


CALIBRATION_SPACE = SearchSpace(
    HyperScoreShape(
        jnp.float32(DEFAULT_BETA),
        jnp.float32(DEFAULT_GAMMA),
        jnp.float32(DEFAULT_KAPPA),
    ),
    beta=LogUniform(0.1, 20.0),
    gamma=Uniform(-10.0, 10.0),
    kappa=LogUniform(0.1, 10.0),
)


@struct.dataclass
class Calibration:
    """shape: fitted HyperScoreShape (scalars); correlation: [] its Pearson r;
    history: [num_rounds] best correlation after each round."""

    shape: HyperScoreShape
    correlation: Array
    history: Array


def pearson_correlation(x: Array, y: Array, mask: Array) -> Array:
    """Pearson r of the masked entries; x, y: [n], mask: [n] bool -> [].

    NaN when either side has zero variance (the searcher treats it as failed).
    """
    count = jnp.maximum(jnp.sum(mask), 1)
    x_centred = jnp.where(mask, x - jnp.sum(jnp.where(mask, x, 0.0)) / count, 0.0)
    y_centred = jnp.where(mask, y - jnp.sum(jnp.where(mask, y, 0.0)) / count, 0.0)
    covariance = jnp.sum(x_centred * y_centred)
    scale = jnp.sqrt(jnp.sum(x_centred**2) * jnp.sum(y_centred**2))
    return jnp.where(scale > 0, covariance / jnp.where(scale > 0, scale, 1.0), jnp.nan)


def shape_correlation(
    shape: HyperScoreShape, v: Array, final: Array, mask: Array
) -> Array:
    """Pearson r between HyperScore(V; shape) and final; v, final, mask: [n] -> []."""
    scores = hyper_score_of_normalised(v, shape.beta, shape.gamma, shape.kappa)
    return pearson_correlation(scores, final, mask)


@partial(jax.jit, static_argnames=("num_rounds", "population_size", "acquisition"))
def calibrate_hyper_score(
    key: Key,
    v: Array,
    final: Array,
    mask: Array | None = None,
    num_rounds: int = 10,
    population_size: int = 4,
    acquisition: str = "ei",
) -> Calibration:
    """Maximise the Pearson r over `CALIBRATION_SPACE` with `BayesSearch`.

    The searcher's score is Fisher's z = atanh(r) (monotone in r).
    v: [n] early normalised performance in (0, 1]; final: [n] final performance;
    mask: [n] bool members to use (None: all; non-finite pairs are always
    dropped). Evaluates num_rounds * population_size shapes; the first two
    rounds are a Latin-hypercube design.
    """
    if num_rounds < 3:
        raise ValueError(f"num_rounds must be >= 3, got {num_rounds}")
    v, final = jnp.asarray(v, jnp.float32), jnp.asarray(final, jnp.float32)
    mask = jnp.ones(v.shape, bool) if mask is None else jnp.asarray(mask, bool)
    mask = mask & jnp.isfinite(v) & jnp.isfinite(final) & (v > 0)
    v = jnp.where(mask, v, 1.0)
    search = BayesSearch(
        CALIBRATION_SPACE,
        population_size,
        acquisition=acquisition,
        max_observations=num_rounds * population_size,
        num_initial=2 * population_size,
    )
    meta_params = search.default_meta_params()

    def evaluate(shapes):
        r = jax.vmap(shape_correlation, in_axes=(0, None, None, None))(
            shapes, v, final, mask
        )
        # Fisher's z = atanh(r): same argmax, but it spreads the good shapes
        # (r near 1) apart, so the GP can tell 0.995 from 0.9998.
        return jnp.arctanh(jnp.clip(r, -1.0 + 1e-6, 1.0 - 1e-6))

    def one_round(state, key):
        key_ask, key_tell = jax.random.split(key)
        shapes, state = search.ask(key_ask, state, meta_params)
        state, metrics = search.tell(
            key_tell, shapes, evaluate(shapes), state, meta_params
        )
        return state, jnp.tanh(metrics["meta/best_score"])

    key_init, key_rounds = jax.random.split(key)
    state = search.init(key_init, meta_params)
    keys = jax.random.split(key_rounds, num_rounds)
    state, history = jax.lax.scan(one_round, state, keys)
    shape = search.best_hparams(state)
    return Calibration(shape, shape_correlation(shape, v, final, mask), history)
