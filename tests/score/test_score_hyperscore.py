import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.score import (
    hyper_score,
    hyper_score_of_normalised,
    hyper_score_with_mask,
    normalise_returns,
)

# (beta, gamma, kappa) with beta, kappa > 0, including the defaults' neighbourhood
# and extremes where float32 saturates.
SHAPES = [(5.0, 3.4657, 2.0), (0.5, -2.0, 0.3), (20.0, 10.0, 5.0), (1.0, 0.0, 1.0)]


@jax.jit
def scores_on_grid(v, shape):
    return jax.vmap(lambda s: hyper_score_of_normalised(v, *s))(shape)


def test_monotone_in_v_and_within_100_200():
    v = jnp.linspace(1e-6, 1.0, 2001)
    scores = np.asarray(scores_on_grid(v, jnp.asarray(SHAPES)))
    assert np.all(np.diff(scores, axis=1) >= 0.0)
    assert np.all(scores >= 100.0) and np.all(scores <= 200.0)
    # Not flat: each shape separates the worst from the best return.
    assert np.all(scores[:, -1] - scores[:, 0] > 1.0)


def test_monotone_in_returns_with_known_and_min_max_bounds():
    returns = np.random.default_rng(0).uniform(-50, 600, 257).astype(np.float32)
    order = np.argsort(returns)
    min_max = np.asarray(hyper_score(returns))
    for scores in (np.asarray(hyper_score(returns, 0.0, 500.0)), min_max):
        assert np.all(np.diff(scores[order]) >= 0.0)
        assert scores.min() >= 100.0 and scores.max() <= 200.0
    # With min-max bounds the best member sits at V = 1.
    best = min_max[np.argmax(returns)]
    assert best == pytest.approx(float(hyper_score_of_normalised(1.0)), rel=1e-6)


def test_nan_and_inf_score_lowest_are_reported_and_do_not_propagate():
    finite = np.array([10.0, 200.0, 350.0, 500.0], np.float32)
    bad = np.array([np.nan, np.inf, -np.inf], np.float32)
    returns = np.concatenate([finite, bad])
    for low, high in ((0.0, 500.0), (None, None)):
        scores, failed = jax.device_get(hyper_score_with_mask(returns, low, high))
        np.testing.assert_array_equal(failed, [False] * 4 + [True] * 3)
        np.testing.assert_array_equal(scores[4:], 100.0)
        assert np.all(np.isfinite(scores))
        assert np.all(scores[:4] >= scores[4:].max())
        # The failed members leave the finite members' scores unchanged.
        np.testing.assert_allclose(scores[:4], hyper_score(finite, low, high))
    # All failed: every member at the minimum, nothing NaN.
    np.testing.assert_array_equal(hyper_score(bad), 100.0)


def test_normalise_returns_known_bounds_min_max_and_flat_population():
    v = normalise_returns(np.array([-10.0, 0.0, 250.0, 500.0, 900.0]), 0.0, 500.0)
    np.testing.assert_allclose(v, [1e-6, 1e-6, 0.5, 1.0, 1.0], rtol=1e-6)
    v = normalise_returns(np.array([2.0, 4.0, np.nan, 6.0, 3.0]))
    np.testing.assert_allclose(v, [1e-6, 0.5, 1e-6, 1.0, 0.25], rtol=1e-6)
    np.testing.assert_allclose(normalise_returns(np.full(5, 7.0)), 1.0)


def test_traced_shape_parameters_jit_and_differentiate():
    returns = np.array([50.0, 250.0, 450.0], np.float32)

    def mean_score(shape):
        return hyper_score(returns, 0.0, 500.0, *shape).mean()

    shape = jnp.array([5.0, 3.4657, 2.0])
    value, grad = jax.jit(jax.value_and_grad(mean_score))(shape)
    assert value == pytest.approx(float(mean_score(shape)), rel=1e-6)
    assert np.all(np.isfinite(grad)) and np.any(grad != 0)


def test_per_task_bounds_vmap():
    returns = np.array([[0.0, 100.0, 50.0], [0.0, 10.0, 5.0]], np.float32)
    highs = np.array([100.0, 10.0], np.float32)
    scores = np.asarray(jax.vmap(lambda r, h: hyper_score(r, 0.0, h))(returns, highs))
    np.testing.assert_allclose(scores[0], scores[1])
    # Broadcast bounds outside vmap give the same.
    np.testing.assert_allclose(hyper_score(returns, 0.0, highs[:, None]), scores)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"low": 500.0, "high": 0.0}, "low"),
        ({"low": 1.0, "high": 1.0}, "low"),
        ({"low": float("nan"), "high": 1.0}, "low"),
        ({"low": 0.0, "high": 1.0, "kappa": 0.0}, "kappa"),
        ({"low": 0.0, "high": 1.0, "kappa": -2.0}, "kappa"),
        ({"low": 0.0, "high": 1.0, "beta": float("inf")}, "beta"),
    ],
)
def test_bad_arguments_raise_before_compiling(kwargs, field):
    traced = []

    @jax.jit
    def score(returns):
        traced.append(True)
        return hyper_score(returns, **kwargs)

    with pytest.raises(ValueError, match=field):
        hyper_score(np.zeros(3), **kwargs)
    # Under jit the Python-number check fires while tracing, before XLA compiles.
    with pytest.raises(ValueError, match=field):
        score(np.zeros(3))
    assert traced == [True]
