"""The HyperScore calibrated online, during a search (SAM-HRL-HS, seeds/000).

After every round of a search, beta, gamma, kappa are refitted by the GP-BO
calibration (`calibrate.calibrate_hyper_score`) on every (early normalised
performance, final performance) pair seen so far, and the searcher is told
scores of the calibrated shape. A refit replaces the current shape only when
it fits the pairs seen so far better (higher Pearson r, measured on the same
pairs), and only once there are `MIN_PAIRS` of them: GP-BO is stochastic, and
a shape that a lucky draw missed should not undo a better one found earlier.
Pure, so the run layer keeps the shape in its checkpointed state.
"""

import jax
import jax.numpy as jnp

from jaxmeta.score.calibrate import (
    HyperScoreShape,
    calibrate_hyper_score,
    shape_correlation,
)
from jaxmeta.score.hyperscore import DEFAULT_BETA, DEFAULT_GAMMA, DEFAULT_KAPPA
from jaxmeta.types import Array, Key

# Fewer pairs than this and Pearson r says little about a 3-parameter shape.
MIN_PAIRS = 4


def default_shape() -> HyperScoreShape:
    """The fixed default shape (the ablation), as [] float32 arrays."""
    return HyperScoreShape(
        jnp.float32(DEFAULT_BETA),
        jnp.float32(DEFAULT_GAMMA),
        jnp.float32(DEFAULT_KAPPA),
    )


def refit_shape(
    key: Key,
    v_early: Array,
    final: Array,
    mask: Array,
    shape: HyperScoreShape,
    num_rounds: int = 25,
    population_size: int = 4,
) -> tuple[HyperScoreShape, Array]:
    """One online refit of the HyperScore's shape.

    v_early: [n] early normalised performance in (0, 1]; final: [n] final
    performance; mask: [n] bool pairs seen so far (non-finite pairs are
    dropped); shape: the current shape ([] leaves). num_rounds and
    population_size go to `calibrate_hyper_score` (its defaults).
    Returns (the new shape, [] its Pearson r on the pairs; -1 with fewer than
    `MIN_PAIRS` pairs or when undefined).
    """
    v_early = jnp.asarray(v_early, jnp.float32)
    final = jnp.asarray(final, jnp.float32)
    valid = mask & jnp.isfinite(v_early) & jnp.isfinite(final) & (v_early > 0)
    v_early = jnp.where(valid, v_early, 1.0)
    fitted = calibrate_hyper_score(
        key, v_early, final, valid, num_rounds, population_size
    )

    def r_of(s):
        r = shape_correlation(s, v_early, final, valid)
        return jnp.where(jnp.isfinite(r), r, -1.0)

    current, candidate = r_of(shape), r_of(fitted.shape)
    better = (jnp.sum(valid) >= MIN_PAIRS) & (candidate > current)
    new = jax.tree.map(lambda a, b: jnp.where(better, a, b), fitted.shape, shape)
    enough = jnp.sum(valid) >= MIN_PAIRS
    return new, jnp.where(enough, jnp.maximum(candidate, current), -1.0)
