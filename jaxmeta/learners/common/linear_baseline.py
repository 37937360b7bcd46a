"""rllab's linear feature baseline (Duan et al., 2016), the value baseline of
MAML's policy-gradient steps (Finn et al., 2017): a ridge regression of the
returns-to-go on the features ``[o, o^2, t, t^2, t^3, 1]`` (observations
clipped to [-10, 10], ``t`` = step index / 100), fitted by least squares on
one batch of trajectories and evaluated on the same batch.

Pure and shape-static, so it is fitted per task inside a vmap over tasks.
"""

import jax
import jax.numpy as jnp

OBS_CLIP = 10.0
TIME_SCALE = 100.0  # rllab's step-index scale


def baseline_features(obs):
    """Features `[T, N, 2 * obs_dim + 4]` of observations `obs: [T, N, obs_dim]`
    (step t of every trajectory is row t)."""
    steps, num = obs.shape[:2]
    clipped = jnp.clip(obs, -OBS_CLIP, OBS_CLIP)
    time = jnp.arange(steps, dtype=obs.dtype)[:, None, None] / TIME_SCALE
    time = jnp.broadcast_to(time, (steps, num, 1))
    ones = jnp.ones_like(time)
    return jnp.concatenate([clipped, clipped**2, time, time**2, time**3, ones], axis=-1)


def fit_linear_baseline(features, targets, weight, reg):
    """Ridge coefficients `[F]` minimising sum w (x.c - y)^2 + reg |c|^2.

    features: [..., F]; targets, weight: [...] (weight 0 drops a row, e.g.
    padding after an episode ended); reg: [] ridge coefficient (rllab: 1e-5).
    A singular or non-finite solve gives zeros (no baseline) instead of NaN.
    """
    x = features.reshape(-1, features.shape[-1])
    w = weight.reshape(-1)
    y = targets.reshape(-1)
    gram = (x * w[:, None]).T @ x + reg * jnp.eye(x.shape[-1], dtype=x.dtype)
    coeffs = jnp.linalg.solve(gram, (x * w[:, None]).T @ y)
    return jnp.where(jnp.all(jnp.isfinite(coeffs)), coeffs, jnp.zeros_like(coeffs))


def linear_baseline(obs, targets, weight, reg):
    """Fit on the batch and predict it: values `[T, N]` for `obs: [T, N, d]`,
    returns-to-go `targets: [T, N]` and `weight: [T, N]`. Gradients are
    stopped: a baseline is a constant of the surrogate."""
    obs, targets, weight = jax.lax.stop_gradient((obs, targets, weight))
    features = baseline_features(obs)
    coeffs = fit_linear_baseline(features, targets, weight, reg)
    return features @ coeffs
