import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.models import gp


def smooth_function(x):
    return np.sin(3 * x[:, 0]) + np.cos(2 * x[:, 1]) * x[:, 2] + 0.5 * x[:, 0] * x[:, 1]


def dataset(seed, n, noise=0.05):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 2.0, (n, 3))
    return x, smooth_function(x) + noise * rng.normal(size=n)


FAST = gp.GPConfig(kernel="matern52", num_restarts=2, num_steps=60)
# Jitted once at module level so tests with equal shapes share compilations.
fit = jax.jit(gp.fit_gp, static_argnums=4)
predict = jax.jit(gp.predict)
log_marginal_likelihood = jax.jit(gp.log_marginal_likelihood, static_argnames="kernel")


@pytest.mark.parametrize("kernel", ["rbf", "matern52"])
def test_log_marginal_likelihood_matches_sklearn(kernel):
    sk = pytest.importorskip("sklearn.gaussian_process")
    kernels = sk.kernels
    x, y = dataset(0, 40)
    lengthscale, signal, noise = np.array([0.7, 1.3, 2.0]), 1.7, 0.01
    if kernel == "rbf":
        shape = kernels.RBF(lengthscale)
    else:
        shape = kernels.Matern(lengthscale, nu=2.5)
    sk_kernel = kernels.ConstantKernel(signal) * shape + kernels.WhiteKernel(noise)
    model = sk.GaussianProcessRegressor(sk_kernel, alpha=0.0, optimizer=None)
    model.fit(x, y)
    expected = model.log_marginal_likelihood(model.kernel_.theta)
    with jax.enable_x64(True):
        hyperparams = gp.make_hyperparams(lengthscale, signal, noise)
        ours = float(log_marginal_likelihood(hyperparams, x, y, kernel=kernel))
    assert abs(ours - expected) <= 1e-4 * abs(expected)


def test_fitted_rmse_close_to_sklearn():
    sk = pytest.importorskip("sklearn.gaussian_process")
    kernels = sk.kernels
    x, y = dataset(1, 60)
    x_test, _ = dataset(2, 200)
    y_test = smooth_function(x_test)
    sk_kernel = kernels.ConstantKernel(1.0, (1e-3, 1e3)) * kernels.Matern(
        np.ones(3), (1e-3, 1e3), nu=2.5
    ) + kernels.WhiteKernel(1e-2, (1e-6, 10.0))
    model = sk.GaussianProcessRegressor(
        sk_kernel, normalize_y=True, n_restarts_optimizer=2, random_state=0
    ).fit(x, y)
    sk_rmse = np.sqrt(np.mean((model.predict(x_test) - y_test) ** 2))
    config = gp.GPConfig(kernel="matern52", num_restarts=3, num_steps=150)
    posterior = fit(jax.random.key(0), x, y, np.ones(60, bool), config)
    mean, variance = predict(posterior, jnp.asarray(x_test, jnp.float32))
    rmse = np.sqrt(np.mean((np.asarray(mean) - y_test) ** 2))
    assert np.all(np.asarray(variance) > 0)
    assert abs(rmse / sk_rmse - 1.0) <= 0.05, (rmse, sk_rmse)


def test_duplicate_inputs_stay_finite():
    x, y = dataset(3, 10, noise=0.0)
    x, y = np.concatenate([x] * 3), np.concatenate([y] * 3)
    tiny_noise = gp.make_hyperparams(jnp.full(3, 0.5), 1.0, 1e-6)
    value, grads = jax.jit(jax.value_and_grad(gp.log_marginal_likelihood))(
        tiny_noise, jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    )
    assert np.isfinite(value)
    assert all(np.all(np.isfinite(g)) for g in jax.tree_util.tree_leaves(grads))
    posterior = fit(jax.random.key(0), x, y, np.ones(30, bool), FAST)
    mean, variance = predict(posterior, jnp.asarray(x[:10], jnp.float32))
    assert np.all(np.isfinite(np.asarray(posterior.chol_inverse)))
    # Noise-free duplicates: the posterior interpolates the (repeated) targets.
    np.testing.assert_allclose(mean, y[:10], atol=0.05 * np.std(y))
    assert np.all(np.isfinite(variance)) and np.all(np.asarray(variance) >= 0)


def test_masked_points_have_no_influence_and_vmap_matches_single_fits():
    x_a, y_a = dataset(4, 20)
    x_b, y_b = dataset(5, 30)
    # Pad A with garbage (huge targets, duplicate inputs) that the mask hides.
    x_pad = np.concatenate([x_a, np.repeat(x_a[:1], 10, axis=0)])
    y_pad = np.concatenate([y_a, np.full(10, 1e6)])
    mask_a = np.arange(30) < 20
    keys = jax.random.split(jax.random.key(1), 2)
    batched = jax.vmap(fit, in_axes=(0, 0, 0, 0, None))(
        keys,
        np.stack([x_pad, x_b]),
        np.stack([y_pad, y_b]),
        np.stack([mask_a, np.ones(30, bool)]),
        FAST,
    )
    x_query = jnp.asarray(dataset(6, 50)[0], jnp.float32)
    for i, (key, x, y) in enumerate([(keys[0], x_a, y_a), (keys[1], x_b, y_b)]):
        single = fit(key, x, y, np.ones(len(y), bool), FAST)
        member = jax.tree_util.tree_map(lambda leaf, i=i: leaf[i], batched)
        for got, want in zip(
            predict(member, x_query), predict(single, x_query), strict=True
        ):
            np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)
    hyperparams = gp.make_hyperparams(jnp.full(3, 0.8), 1.2, 0.05)
    np.testing.assert_allclose(
        log_marginal_likelihood(hyperparams, x_pad, y_pad, mask_a),
        log_marginal_likelihood(hyperparams, x_a, y_a),
        rtol=1e-5,
    )


def test_posterior_variance_shrinks_at_data_and_reverts_far_away():
    x, y = dataset(7, 30, noise=0.0)
    posterior = fit(jax.random.key(2), x, y, np.ones(30, bool), FAST)
    _, near = predict(posterior, jnp.asarray(x, jnp.float32))
    mean_far, far = predict(posterior, jnp.full((1, 3), 50.0))
    prior_variance = posterior.hyperparams.signal_variance * posterior.y_std**2
    assert np.max(near) < 0.05 * prior_variance
    np.testing.assert_allclose(far, prior_variance, rtol=1e-3)
    np.testing.assert_allclose(mean_far, posterior.y_mean, atol=1e-3)


def test_bad_config_raises_before_compiling():
    with pytest.raises(ValueError, match="kernel"):
        gp.GPConfig(kernel="periodic")
    with pytest.raises(ValueError, match="num_restarts"):
        gp.GPConfig(num_restarts=0)
    with pytest.raises(ValueError, match="learning_rate"):
        gp.GPConfig(learning_rate=-1.0)
