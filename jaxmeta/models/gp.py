"""Exact Gaussian-process regression, batched and masked.

The GP is written here rather than taken from tinygp: it keeps jaxmeta free of
one more dependency, and we need full control of two things a library hides,
the boolean mask that makes ragged datasets vmappable and the adaptive Cholesky
jitter that keeps duplicate inputs from producing NaN.

Masking: a masked-out point gets zero covariance with every other point, a unit
diagonal and a zero target, so the kernel matrix is block diagonal
`[[K_obs, 0], [0, I]]`; it adds nothing to the data fit, the log determinant or
any prediction. Fitting standardises y and scales x to the unit box (both from
the observed points, or x from given bounds), then maximises the log marginal
likelihood with Adam over a fixed number of `lax.scan` steps from several
vmapped restarts, and keeps the best restart.
"""

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax.scipy.linalg import solve_triangular

from jaxmeta.models.gaussian_likelihood import (
    gaussian_log_likelihood,
    stable_cholesky,
)
from jaxmeta.models.kernels import KERNELS, kernel_matrix
from jaxmeta.types import Array, Key

# Bounds on the log hyperparameters (in standardised units): keeps Adam away
# from degenerate fits (lengthscale -> 0 interpolates noise, -> inf ignores x).
LOG_LENGTHSCALE_BOUNDS = (math.log(1e-3), math.log(1e3))
LOG_SIGNAL_BOUNDS = (math.log(1e-3), math.log(1e3))
LOG_NOISE_BOUNDS = (math.log(1e-6), math.log(1e1))


@struct.dataclass
class GPHyperparams:
    """Log hyperparameters; the positive values are clipped exponentials.

    log_lengthscale: [d]; log_signal_variance: []; log_noise_variance: [].
    """

    log_lengthscale: Array
    log_signal_variance: Array
    log_noise_variance: Array

    @property
    def lengthscale(self) -> Array:
        return jnp.exp(jnp.clip(self.log_lengthscale, *LOG_LENGTHSCALE_BOUNDS))

    @property
    def signal_variance(self) -> Array:
        return jnp.exp(jnp.clip(self.log_signal_variance, *LOG_SIGNAL_BOUNDS))

    @property
    def noise_variance(self) -> Array:
        return jnp.exp(jnp.clip(self.log_noise_variance, *LOG_NOISE_BOUNDS))


def make_hyperparams(lengthscale, signal_variance, noise_variance) -> GPHyperparams:
    """Hyperparameters from positive values; lengthscale: [d] or scalar broadcast."""
    return GPHyperparams(
        jnp.log(jnp.asarray(lengthscale)),
        jnp.log(jnp.asarray(signal_variance)),
        jnp.log(jnp.asarray(noise_variance)),
    )


@dataclass(frozen=True)
class GPConfig:
    """Static fitting configuration.

    kernel: "rbf" or "matern52"; num_restarts: vmapped random restarts (the
    first starts from a fixed default); num_steps: Adam steps; learning_rate:
    Adam rate on the log hyperparameters; lengthscale_prior: None (maximum
    likelihood) or (concentration, rate) of a Gamma prior on each unit-box
    lengthscale, turning the fit into MAP (e.g. (3, 6), mode 1/3, steadies ARD
    fits on few points in several dimensions).
    """

    kernel: str = "matern52"
    num_restarts: int = 4
    num_steps: int = 200
    learning_rate: float = 0.05
    lengthscale_prior: tuple[float, float] | None = None

    def __post_init__(self):
        if self.kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, got {self.kernel!r}")
        for name in ("num_restarts", "num_steps"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(
                    f"{name} must be an int >= 1, got {getattr(self, name)}"
                )
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        prior = self.lengthscale_prior
        if prior is not None and (len(prior) != 2 or min(prior) <= 0):
            raise ValueError(
                f"lengthscale_prior must be None or (concentration > 0, rate > 0), "
                f"got {prior}"
            )


@struct.dataclass
class GPPosterior:
    """A fitted GP over n slots (some masked), in normalised coordinates.

    x: [n, d] in the unit box; y: [n] standardised (0 where masked); mask: [n];
    chol_inverse: [n, n] inverse of the lower Cholesky factor of the masked
    kernel matrix (a matmul predicts faster than a triangular solve); alpha: [n] =
    K^-1 y; x_low, x_scale: [d] map raw x to the unit box; y_mean, y_std: [].
    """

    hyperparams: GPHyperparams
    x: Array
    y: Array
    mask: Array
    chol_inverse: Array
    alpha: Array
    x_low: Array
    x_scale: Array
    y_mean: Array
    y_std: Array
    kernel: str = struct.field(pytree_node=False, default="matern52")


def _masked_covariance(kernel: str, hyperparams: GPHyperparams, x, mask) -> Array:
    """[n, n] K + noise I on observed slots, identity on masked slots."""
    both = mask[:, None] & mask[None, :]
    gram = kernel_matrix(
        kernel, x, x, hyperparams.lengthscale, hyperparams.signal_variance
    )
    diagonal = jnp.where(mask, hyperparams.noise_variance, 1.0)
    return jnp.where(both, gram, 0.0) + jnp.diag(diagonal)


def log_marginal_likelihood(
    hyperparams: GPHyperparams, x: Array, y: Array, mask=None, kernel="matern52"
) -> Array:
    """Log p(y | x, hyperparams) of the observed points, on the data as given.

    x: [n, d]; y: [n]; mask: [n] bool (None = all observed) -> []. No
    normalisation happens here; masked points contribute exactly nothing.
    """
    mask = jnp.ones(y.shape, bool) if mask is None else mask
    y = jnp.where(mask, y, 0.0)
    cov = _masked_covariance(kernel, hyperparams, x, mask)
    return gaussian_log_likelihood(cov, y, mask.astype(cov.dtype))


def condition(posterior: GPPosterior, x: Array, y: Array, mask: Array) -> GPPosterior:
    """Posterior on new normalised data with the SAME hyperparameters (no refit).

    x: [n, d] unit box; y: [n] standardised; mask: [n]. Used by Kriging
    believer to add fantasised points.
    """
    y = jnp.where(mask, y, 0.0)
    cov = _masked_covariance(posterior.kernel, posterior.hyperparams, x, mask)
    chol = stable_cholesky(cov, mask)
    alpha = jax.scipy.linalg.cho_solve((chol, True), y)
    eye = jnp.eye(cov.shape[0], dtype=cov.dtype)
    chol_inverse = solve_triangular(chol, eye, lower=True)
    return posterior.replace(
        x=x, y=y, mask=mask, chol_inverse=chol_inverse, alpha=alpha
    )


def _initial_hyperparams(key: Key, num_restarts: int, dim: int) -> GPHyperparams:
    """[num_restarts]-batched starts; restart 0 is a fixed, sensible default."""
    key_ls, key_sig, key_noise = jax.random.split(key, 3)
    log_ls = jax.random.uniform(
        key_ls, (num_restarts, dim), minval=jnp.log(0.05), maxval=jnp.log(2.0)
    )
    log_sig = jax.random.uniform(
        key_sig, (num_restarts,), minval=jnp.log(0.3), maxval=jnp.log(3.0)
    )
    log_noise = jax.random.uniform(
        key_noise, (num_restarts,), minval=jnp.log(1e-5), maxval=jnp.log(1e-1)
    )
    log_ls = log_ls.at[0].set(jnp.log(0.3))
    log_sig = log_sig.at[0].set(0.0)
    log_noise = log_noise.at[0].set(jnp.log(1e-3))
    return GPHyperparams(log_ls, log_sig, log_noise)


def fit_gp(
    key: Key,
    x: Array,
    y: Array,
    mask: Array,
    config: GPConfig,
    x_low=None,
    x_high=None,
    warm_start: GPHyperparams | None = None,
) -> GPPosterior:
    """Fit hyperparameters by maximum marginal likelihood and condition on the data.

    x: [n, d]; y: [n]; mask: [n] bool; x_low, x_high: [d] box mapped to the
    unit cube (None: the observed points' min and max); warm_start: hyperparameters
    that replace the default first restart (e.g. the previous fit in a search).
    Non-finite y must be masked by the caller. Vmappable over (key, x, y, mask).
    """
    dtype = jnp.result_type(float)
    x, y = jnp.asarray(x, dtype), jnp.asarray(y, dtype)
    mask = jnp.asarray(mask, bool)
    count = jnp.maximum(jnp.sum(mask), 1)
    y_mean = jnp.sum(jnp.where(mask, y, 0.0)) / count
    y_var = jnp.sum(jnp.where(mask, (y - y_mean) ** 2, 0.0)) / count
    y_std = jnp.where(y_var > 1e-20, jnp.sqrt(y_var), 1.0)
    if x_low is None or x_high is None:
        x_low = jnp.min(jnp.where(mask[:, None], x, jnp.inf), axis=0)
        x_high = jnp.max(jnp.where(mask[:, None], x, -jnp.inf), axis=0)
        x_low = jnp.where(jnp.isfinite(x_low), x_low, 0.0)
        x_high = jnp.where(jnp.isfinite(x_high), x_high, 1.0)
    x_low, x_high = jnp.asarray(x_low, dtype), jnp.asarray(x_high, dtype)
    x_scale = jnp.where(x_high - x_low > 0, x_high - x_low, 1.0)
    unit_x = (x - x_low) / x_scale
    unit_y = jnp.where(mask, (y - y_mean) / y_std, 0.0)

    def loss(hyperparams):
        objective = log_marginal_likelihood(
            hyperparams, unit_x, unit_y, mask, config.kernel
        )
        if config.lengthscale_prior is not None:
            concentration, rate = config.lengthscale_prior
            lengthscale = hyperparams.lengthscale
            objective += jnp.sum(
                (concentration - 1.0) * jnp.log(lengthscale) - rate * lengthscale
            )
        return -objective / count

    optimizer = optax.adam(config.learning_rate)

    def run_restart(start):
        def step(carry, _):
            params, opt_state = carry
            value, grads = jax.value_and_grad(loss)(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), value

        carry = (start, optimizer.init(start))
        (params, _), _ = jax.lax.scan(step, carry, None, length=config.num_steps)
        return params, loss(params)

    starts = _initial_hyperparams(key, config.num_restarts, x.shape[-1])
    if warm_start is not None:
        starts = jax.tree_util.tree_map(
            lambda leaves, leaf: leaves.at[0].set(leaf), starts, warm_start
        )
    fitted, losses = jax.vmap(run_restart)(starts)
    best = jnp.argmin(jnp.where(jnp.isfinite(losses), losses, jnp.inf))
    hyperparams = jax.tree_util.tree_map(lambda leaf: leaf[best], fitted)
    empty = GPPosterior(
        hyperparams, unit_x, unit_y, mask, jnp.eye(x.shape[0], dtype=dtype),
        unit_y, x_low, x_scale, y_mean, y_std, config.kernel,
    )  # fmt: skip
    return condition(empty, unit_x, unit_y, mask)


def predict_normalized(posterior: GPPosterior, unit_x: Array) -> tuple[Array, Array]:
    """Latent mean and variance in standardised units at unit-box points.

    unit_x: [m, d] -> (mean [m], variance [m]).
    """
    hp = posterior.hyperparams
    cross = kernel_matrix(
        posterior.kernel, unit_x, posterior.x, hp.lengthscale, hp.signal_variance
    )
    cross = jnp.where(posterior.mask[None, :], cross, 0.0)
    mean = cross @ posterior.alpha
    half = posterior.chol_inverse @ cross.T
    variance = hp.signal_variance - jnp.sum(half**2, axis=0)
    return mean, jnp.maximum(variance, 1e-12 * hp.signal_variance)


def predict(posterior: GPPosterior, x: Array) -> tuple[Array, Array]:
    """Latent posterior mean and variance in the original units of x and y.

    x: [m, d] -> (mean [m], variance [m]); add the noise variance
    (`hyperparams.noise_variance * y_std**2`) for a predictive variance of y.
    """
    mean, variance = predict_normalized(
        posterior, (x - posterior.x_low) / posterior.x_scale
    )
    return mean * posterior.y_std + posterior.y_mean, variance * posterior.y_std**2
