"""Masked Gaussian log-likelihood with an adaptive Cholesky jitter (used by gp.py).

A kernel matrix of duplicate or near-duplicate inputs is singular in float32;
the factorisation then returns NaN. The jitter is the smallest of {0, 1e-6,
1e-5, ...} x the mean observed diagonal whose Cholesky factor is finite, so
well-conditioned matrices are factorised exactly and no fit ever returns NaN.
"""

import jax
import jax.numpy as jnp

from jaxmeta.types import Array

JITTER_LEVELS = 8


def _choose_jitter(matrix: Array, mask: Array) -> Array:
    """Smallest jitter in {0, 1e-6, 1e-5, ...} x mean diagonal with a finite Cholesky.

    Runs on a gradient-stopped copy, so the loop never sits on a reverse-mode path.
    """
    matrix = jax.lax.stop_gradient(matrix)
    scale = jnp.sum(jnp.where(mask, jnp.diag(matrix), 0.0)) / jnp.maximum(
        jnp.sum(mask), 1
    )
    eye = jnp.diag(mask.astype(matrix.dtype))

    def jitter_at(level):
        return jnp.where(level == 0, 0.0, scale * 10.0 ** (level - 7.0))

    def failed(level):
        chol = jnp.linalg.cholesky(matrix + jitter_at(level) * eye)
        return ~jnp.all(jnp.isfinite(chol))

    def cond(level):
        return (level < JITTER_LEVELS - 1) & failed(level)

    level = jax.lax.while_loop(cond, lambda level: level + 1, jnp.asarray(0))
    return jitter_at(level)


def stable_cholesky(matrix: Array, mask: Array) -> Array:
    """[n, n] lower Cholesky factor of matrix plus adaptive jitter on observed slots."""
    jitter = _choose_jitter(matrix, mask)
    return jnp.linalg.cholesky(matrix + jnp.diag(jnp.where(mask, jitter, 0.0)))


@jax.custom_vjp
def gaussian_log_likelihood(cov: Array, y: Array, observed: Array) -> Array:
    """log N(y | 0, cov) over observed slots; cov: [n, n], y: [n], observed: [n] 0/1.

    The gradient is the closed form 0.5 (alpha alpha^T - cov^-1): differentiating
    through the Cholesky factorisation is far slower on CPU and would put the
    jitter search on the reverse-mode path.
    """
    return _gaussian_log_likelihood_fwd(cov, y, observed)[0]


def _gaussian_log_likelihood_fwd(cov, y, observed):
    mask = observed > 0
    chol = stable_cholesky(cov, mask)
    alpha = jax.scipy.linalg.cho_solve((chol, True), y)
    value = (
        -0.5 * jnp.dot(y, alpha)
        - jnp.sum(jnp.log(jnp.diag(chol)))
        - 0.5 * jnp.sum(observed) * jnp.log(2.0 * jnp.pi)
    )
    eye = jnp.eye(cov.shape[0], dtype=cov.dtype)
    cov_inverse = jax.scipy.linalg.cho_solve((chol, True), eye)
    return value, (alpha, cov_inverse, observed)


def _gaussian_log_likelihood_bwd(residuals, grad):
    alpha, cov_inverse, observed = residuals
    grad_cov = 0.5 * grad * (jnp.outer(alpha, alpha) - cov_inverse)
    return grad_cov, -grad * alpha, jnp.zeros_like(observed)


gaussian_log_likelihood.defvjp(
    _gaussian_log_likelihood_fwd, _gaussian_log_likelihood_bwd
)
