import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.score.calibrate import (
    HyperScoreShape,
    calibrate_hyper_score,
    pearson_correlation,
    shape_correlation,
)

TRUE_SHAPE = HyperScoreShape(jnp.float32(8.0), jnp.float32(4.0), jnp.float32(3.0))


def transform(shape, v):
    """The shape part of HyperScore, sigmoid(beta ln V + gamma)^kappa."""
    return jax.nn.sigmoid(shape.beta * jnp.log(v) + shape.gamma) ** shape.kappa


def test_pearson_matches_numpy_and_ignores_masked_pairs():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=30), rng.normal(size=30)
    mask = np.arange(30) < 20
    x_garbage = np.where(mask, x, 1e6)
    got = pearson_correlation(jnp.asarray(x_garbage), jnp.asarray(y), mask)
    np.testing.assert_allclose(got, np.corrcoef(x[:20], y[:20])[0, 1], rtol=1e-5)
    assert np.isnan(pearson_correlation(jnp.ones(5), jnp.arange(5.0), np.ones(5, bool)))


@pytest.mark.long
def test_calibration_recovers_a_known_transform():
    rng = np.random.default_rng(1)
    v = rng.uniform(0.02, 1.0, 200).astype(np.float32)
    true = np.asarray(transform(TRUE_SHAPE, v))
    final = true + 0.1 * np.std(true) * rng.normal(size=200).astype(np.float32)
    final[:3] = np.nan  # failed runs are dropped, not propagated
    result = calibrate_hyper_score(jax.random.key(0), v, final, num_rounds=25)
    keep = np.isfinite(final)
    true_r = float(shape_correlation(TRUE_SHAPE, v, final, keep))
    identity_r = np.corrcoef(v[keep], final[keep])[0, 1]
    assert np.isfinite(result.correlation)
    assert np.all(np.diff(np.asarray(result.history)) >= 0)
    assert float(result.correlation) >= true_r - 5e-3
    assert float(result.correlation) > identity_r + 0.02
    # Shape recovery. Pearson cannot see an affine map and, at this noise level,
    # nearby shapes fit the data about equally well, so recovery is judged on
    # the noise-free relation: the fitted transform must be a near-linear
    # function of the true one over the population.
    clean_r = np.corrcoef(np.asarray(transform(result.shape, v)), true)[0, 1]
    assert clean_r > 0.99, (clean_r, result.shape)


def test_too_few_rounds_raises():
    with pytest.raises(ValueError, match="num_rounds"):
        calibrate_hyper_score(jax.random.key(0), jnp.ones(4), jnp.ones(4), num_rounds=2)
