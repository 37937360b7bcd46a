import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.models.extra_trees import ExtraTrees


@pytest.fixture
def key():
    return jax.random.key(0)


@pytest.mark.parametrize(
    "field, value",
    [
        ("num_trees", 0),
        ("max_features", 0),
        ("min_samples_split", 1),
        ("min_samples_split", 0.0),
        ("min_samples_split", 1.5),
        ("max_depth", 0),
        ("trees_per_batch", 2.0),
    ],
)
def test_invalid_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        ExtraTrees(**{field: value})


def test_max_features_above_input_dim_is_rejected(key):
    with pytest.raises(ValueError, match="max_features"):
        ExtraTrees(max_features=3).fit(key, jnp.zeros((4, 2)), jnp.zeros(4))


def _step_data(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 3)).astype(np.float32)
    y = np.where(x[:, 0] > 0.2, 2.0, -1.0) + np.round(3 * x[:, 1])
    return x, y.astype(np.float32)


# One config and one padded size, so the tests below share two compilations.
SMALL_FOREST = ExtraTrees(num_trees=3, max_features=2, max_depth=20, trees_per_batch=2)
SMALL_SIZE = 150
fit_small = jax.jit(SMALL_FOREST.fit)
predict_small = jax.jit(SMALL_FOREST.predict)


def test_pure_trees_interpolate_the_training_data(key):
    x, y = _step_data(SMALL_SIZE, 0)
    params = fit_small(key, x, y, np.ones(SMALL_SIZE))
    np.testing.assert_allclose(predict_small(params, x), y, atol=1e-5)
    # Breadth-first allocation in pairs: at most 2n - 1 nodes.
    assert params.feature.shape == (3, 2 * SMALL_SIZE - 1)
    # Every sample ends in a leaf: no split node keeps a value.
    assert np.all(np.asarray(params.value)[np.asarray(params.feature) >= 0] == 0)


def test_vmap_over_datasets_equals_single_fits_and_ignores_padding(key):
    x, y = _step_data(120, 2)
    weights = np.concatenate([np.ones(120), np.zeros(30)])

    def padded(fill):
        x_pad = np.concatenate([x, np.full((30, 3), fill, np.float32)])
        return x_pad, np.concatenate([y, np.full(30, 100 * fill, np.float32)])

    (x_a, y_a), (x_b, y_b) = padded(7.0), padded(-0.3)
    x_other, y_other = _step_data(SMALL_SIZE, 3)
    keys = jax.random.split(key, 3)
    batched = jax.vmap(fit_small)(
        keys[jnp.array([0, 0, 1])],
        jnp.stack([x_a, x_b, x_other]),
        jnp.stack([y_a, y_b, y_other]),
        jnp.stack([weights, weights, np.ones(SMALL_SIZE)]),
    )
    x_test = _step_data(50, 4)[0]
    per_member = jax.vmap(predict_small, in_axes=(0, None))(batched, x_test)
    # Zero-weight rows, whatever they hold, change nothing.
    np.testing.assert_array_equal(per_member[0], per_member[1])
    single = fit_small(keys[1], x_other, y_other, np.ones(SMALL_SIZE))
    np.testing.assert_allclose(per_member[2], predict_small(single, x_test), rtol=1e-6)
    single_padded = fit_small(keys[0], x_a, y_a, weights)
    np.testing.assert_allclose(
        per_member[0], predict_small(single_padded, x_test), rtol=1e-6
    )
    # The padded rows are outside every node's range: a tree would put them in
    # their own leaf with value 700 if they were counted.
    assert np.max(np.abs(per_member[0])) <= np.max(np.abs(y)) + 1e-5


def test_fraction_min_samples_split_of_one_grows_stumps(key):
    x, y = _step_data(SMALL_SIZE, 1)
    stump = ExtraTrees(num_trees=3, max_features=2, min_samples_split=1.0)
    params = stump.fit(key, x, y)
    # psi = 1 means n_min = n: only the root may split.
    assert np.all(np.sum(np.asarray(params.feature) >= 0, axis=1) == 1)
    prediction = np.asarray(stump.predict(params, x))
    assert np.unique(prediction).size <= 2**3


def _smooth_20d(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 20))
    y = np.sin(2 * x) @ (1.0 / np.arange(1, 21)) + x[:, 0] * x[:, 1]
    return x, y + 0.1 * rng.standard_normal(n)


def _r2(y, prediction):
    return 1 - np.mean((y - prediction) ** 2) / np.var(y)


def _compare_with_sklearn(x, y, x_test, y_test, num_trees, max_features):
    sklearn_ensemble = pytest.importorskip("sklearn.ensemble")
    # Both capped at depth 32, which barely binds: uncapped sklearn trees on
    # Friedman-1 at 10k samples measured at most 31 levels deep.
    forest = ExtraTrees(
        num_trees=num_trees,
        max_features=max_features,
        min_samples_split=2,
        trees_per_batch=num_trees,
    )
    params = jax.jit(forest.fit)(jax.random.key(1), x, y)
    ours = _r2(y_test, np.asarray(forest.predict(params, x_test)))
    reference = sklearn_ensemble.ExtraTreesRegressor(
        n_estimators=num_trees,
        max_features=max_features,
        min_samples_split=2,
        max_depth=32,
        random_state=0,
    ).fit(x, y)
    theirs = _r2(y_test, reference.predict(x_test))
    print(f"held-out R2: jaxmeta {ours:.4f}, sklearn {theirs:.4f}")
    assert abs(ours - theirs) < 0.02, (ours, theirs)


@pytest.mark.long
@pytest.mark.slow
def test_r2_matches_sklearn_on_friedman1():
    datasets = pytest.importorskip("sklearn.datasets")
    x, y = datasets.make_friedman1(12_000, noise=1.0, random_state=0)
    _compare_with_sklearn(x[:10_000], y[:10_000], x[10_000:], y[10_000:], 10, 10)


@pytest.mark.long
@pytest.mark.slow
def test_r2_matches_sklearn_on_smooth_20d_function():
    x, y = _smooth_20d(6_000, 5)
    _compare_with_sklearn(x[:5_000], y[:5_000], x[5_000:], y[5_000:], 10, 7)


@pytest.mark.long
def test_padding_changes_nothing_with_a_fractional_min_split(key):
    x, y = _step_data(120, 6)
    forest = ExtraTrees(num_trees=2, max_features=2, min_samples_split=0.05)
    x_pad = np.concatenate([x, np.full((30, 3), 5.0, np.float32)])
    y_pad = np.concatenate([y, np.full(30, -50.0, np.float32)])
    weights = np.concatenate([np.ones(120), np.zeros(30)])
    x_test = _step_data(40, 7)[0]
    plain = forest.predict(forest.fit(key, x, y), x_test)
    padded = forest.predict(forest.fit(key, x_pad, y_pad, weights), x_test)
    # n_min = ceil(0.05 * valid samples) = 6 on both; padding is never counted.
    np.testing.assert_array_equal(plain, padded)


@pytest.mark.long
def test_eight_features_fit_the_same_padded_vmapped_or_not(key):
    # K = d = 8 leaves no spare column in the padded candidate tables (a
    # different path from K = 2 of 3 above); a few samples per node make deep,
    # unbalanced trees whose last levels hold few live samples.
    rng = np.random.default_rng(8)
    x = np.round(rng.uniform(-2, 2, (200, 8))).astype(np.float32)  # many ties
    y = (x[:, 0] * x[:, 1] + 0.1 * rng.standard_normal(200)).astype(np.float32)
    forest = ExtraTrees(num_trees=3, min_samples_split=3)
    x_pad = np.concatenate([x, np.full((40, 8), -9.0, np.float32)])
    y_pad = np.concatenate([y, np.full(40, 9.0, np.float32)])
    weights = np.concatenate([np.ones(200), np.zeros(40)])
    fit = jax.jit(forest.fit)
    plain = fit(key, x_pad[:200], y_pad[:200])
    padded = fit(key, x_pad, y_pad, weights)
    batched = jax.jit(jax.vmap(forest.fit))(
        jnp.stack([key, key]), jnp.stack([x_pad, x_pad]),
        jnp.stack([y_pad, y_pad]), jnp.stack([weights, np.ones(240)]),
    )  # fmt: skip
    for field in ("feature", "threshold", "left_child", "value"):
        kept = getattr(plain, field)
        np.testing.assert_array_equal(getattr(padded, field)[:, : kept.shape[1]], kept)
        np.testing.assert_array_equal(
            getattr(batched, field)[0], getattr(padded, field)
        )
    unpadded = fit(key, x_pad, y_pad, np.ones(240))
    np.testing.assert_array_equal(batched.value[1], unpadded.value)
