"""Stationary covariance kernels with ARD lengthscales for `models/gp.py`.

Kernels are plain functions of two point sets so they jit and vmap; the kernel
name is static and picked from `KERNELS`.
"""

import jax.numpy as jnp

from jaxmeta.types import Array

KERNELS = ("rbf", "matern52")


def scaled_squared_distance(x1: Array, x2: Array, lengthscale: Array) -> Array:
    """Squared distance after dividing every dimension by its lengthscale.

    x1: [n, d], x2: [m, d], lengthscale: [d] -> [n, m]. Computed from explicit
    differences (not the |a|^2 + |b|^2 - 2ab expansion) so duplicate points give
    an exact zero, which the Matern kernel's square root relies on.
    """
    diff = (x1[:, None, :] - x2[None, :, :]) / lengthscale
    return jnp.sum(diff * diff, axis=-1)


def rbf(x1: Array, x2: Array, lengthscale: Array, signal_variance: Array) -> Array:
    """Squared-exponential kernel s^2 exp(-r^2 / 2).

    x1: [n, d], x2: [m, d] -> [n, m].
    """
    return signal_variance * jnp.exp(
        -0.5 * scaled_squared_distance(x1, x2, lengthscale)
    )


def matern52(x1: Array, x2: Array, lengthscale: Array, signal_variance: Array) -> Array:
    """Matern-5/2 kernel s^2 (1 + sqrt5 r + 5 r^2 / 3) exp(-sqrt5 r).

    x1: [n, d], x2: [m, d] -> [n, m].
    """
    r2 = scaled_squared_distance(x1, x2, lengthscale)
    positive = r2 > 0.0
    # sqrt has an infinite derivative at 0; the kernel's derivative there is 0.
    r = jnp.where(positive, jnp.sqrt(jnp.where(positive, r2, 1.0)), 0.0)
    sqrt5_r = jnp.sqrt(5.0) * r
    return signal_variance * (1.0 + sqrt5_r + 5.0 / 3.0 * r2) * jnp.exp(-sqrt5_r)


def kernel_matrix(
    kernel: str, x1: Array, x2: Array, lengthscale: Array, signal_variance: Array
) -> Array:
    """Covariance between two point sets for the named kernel.

    kernel: one of `KERNELS` (static); x1: [n, d]; x2: [m, d]; lengthscale: [d];
    signal_variance: [] -> [n, m].
    """
    if kernel == "rbf":
        return rbf(x1, x2, lengthscale, signal_variance)
    if kernel == "matern52":
        return matern52(x1, x2, lengthscale, signal_variance)
    raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
