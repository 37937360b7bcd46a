"""Acquisition functions and their maximisation for GP Bayesian optimisation.

Everything works in the unit cube on a `GPPosterior` whose targets are
standardised scores (higher is better). Expected improvement is computed in log
form following Ament et al. 2023, "Unexpected improvements to expected
improvement": EI = sigma * h(z), h(z) = phi(z) + z Phi(z), and log h(z) uses three
branches so it stays finite with useful gradients when z is very negative.
"""

import math

import jax
import jax.numpy as jnp
import optax
from jax.scipy.special import log_ndtr

from jaxmeta.models.gp import GPPosterior, condition, predict_normalized
from jaxmeta.types import Array, Key

ACQUISITIONS = ("ei", "ucb")
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
# Below this z the asymptotic series is accurate to float32 precision.
_ASYMPTOTIC_Z = -12.0


def log_h(z: Array) -> Array:
    """log(phi(z) + z Phi(z)), stable for all z; z: any shape -> same shape.

    z > -1: direct. -12 < z <= -1: log phi(z) + log(1 - |z| Phi(z)/phi(z)) with
    the Mills ratio from `log_ndtr` (jax has no erfcx, which the paper uses).
    z <= -12: the asymptotic series h(z) = phi(z)/z^2 (1 - 3/z^2 + 15/z^4 - ...).
    Each branch sees a clamped z so no branch yields NaN gradients.
    """
    z_direct = jnp.maximum(z, -1.0)
    direct = jnp.log(
        jnp.exp(-0.5 * z_direct**2 - _HALF_LOG_2PI)
        + z_direct * jnp.exp(log_ndtr(z_direct))
    )
    z_mid = jnp.clip(z, _ASYMPTOTIC_Z, -1.0)
    log_phi_mid = -0.5 * z_mid**2 - _HALF_LOG_2PI
    log_ratio = jnp.log(-z_mid) + log_ndtr(z_mid) - log_phi_mid
    # log(1 - exp(a)) for a < 0, written to keep precision near a = 0.
    middle = log_phi_mid + jnp.log(-jnp.expm1(jnp.minimum(log_ratio, -1e-7)))
    z_tail = jnp.minimum(z, _ASYMPTOTIC_Z)
    inverse_square = 1.0 / z_tail**2
    series = inverse_square * (-3.0 + inverse_square * (15.0 - 105.0 * inverse_square))
    tail = -0.5 * z_tail**2 - _HALF_LOG_2PI - jnp.log(z_tail**2) + jnp.log1p(series)
    return jnp.where(z > -1.0, direct, jnp.where(z > _ASYMPTOTIC_Z, middle, tail))


def log_expected_improvement(mean: Array, std: Array, best: Array) -> Array:
    """log E[max(f - best, 0)] for f ~ N(mean, std^2).

    mean, std: [m]; best: [] -> [m].
    """
    return log_h((mean - best) / std) + jnp.log(std)


def upper_confidence_bound(mean: Array, std: Array, beta: Array) -> Array:
    """mean + sqrt(beta) std; mean, std: [m], beta: [] -> [m]."""
    return mean + jnp.sqrt(beta) * std


def acquisition_value(
    kind: str, posterior: GPPosterior, unit_x: Array, best: Array, ucb_beta: Array
) -> Array:
    """Acquisition at unit-cube points; unit_x: [m, d] -> [m], higher is better."""
    mean, variance = predict_normalized(posterior, unit_x)
    std = jnp.sqrt(variance)
    if kind == "ei":
        return log_expected_improvement(mean, std, best)
    if kind == "ucb":
        return upper_confidence_bound(mean, std, ucb_beta)
    raise ValueError(f"acquisition must be one of {ACQUISITIONS}, got {kind!r}")


def maximize_acquisition(
    key: Key,
    kind: str,
    posterior: GPPosterior,
    best: Array,
    anchors: Array,
    meta_params,
    num_candidates: int,
    num_refine: int,
    refine_steps: int,
) -> Array:
    """Best unit-cube point: random candidates, then projected Adam on the top few.

    anchors: [k, d] good observed points; half the candidates are Gaussian
    perturbations of them (scale meta_params.local_scale), half uniform.
    meta_params needs ucb_beta, local_scale, refine_learning_rate. -> [d].
    """
    dim = anchors.shape[-1]
    key_uniform, key_anchor, key_noise = jax.random.split(key, 3)
    num_local = num_candidates // 2
    uniform = jax.random.uniform(key_uniform, (num_candidates - num_local, dim))
    chosen = jax.random.randint(key_anchor, (num_local,), 0, anchors.shape[0])
    noise = jax.random.normal(key_noise, (num_local, dim)) * meta_params.local_scale
    local = jnp.clip(anchors[chosen] + noise, 0.0, 1.0)
    candidates = jnp.concatenate([uniform, local])

    def score(points):
        values = acquisition_value(kind, posterior, points, best, meta_params.ucb_beta)
        return jnp.where(jnp.isfinite(values), values, -jnp.inf)

    values = score(candidates)
    _, top = jax.lax.top_k(values, num_refine)
    optimizer = optax.adam(meta_params.refine_learning_rate)

    def loss(point):
        return -acquisition_value(
            kind, posterior, point[None], best, meta_params.ucb_beta
        )[0]

    def refine(start):
        def step(carry, _):
            point, opt_state = carry
            grad = jax.grad(loss)(point)
            grad = jnp.where(jnp.isfinite(grad), grad, 0.0)
            updates, opt_state = optimizer.update(grad, opt_state, point)
            return (jnp.clip(point + updates, 0.0, 1.0), opt_state), None

        carry = (start, optimizer.init(start))
        return jax.lax.scan(step, carry, None, length=refine_steps)[0][0]

    refined = jax.vmap(refine)(candidates[top])
    pool = jnp.concatenate([refined, candidates[top]])
    return pool[jnp.argmax(score(pool))]


def propose_batch(
    key: Key,
    kind: str,
    posterior: GPPosterior,
    anchors: Array,
    meta_params,
    first_free_slot: int,
    batch_size: int,
    num_candidates: int,
    num_refine: int,
    refine_steps: int,
) -> Array:
    """q points by Kriging believer; -> [batch_size, d] in the unit cube.

    Slots first_free_slot ... first_free_slot + batch_size - 1 of the posterior
    must be masked; each chosen point is written there with its posterior mean
    as a fantasised observation and the posterior is re-conditioned with the
    same hyperparameters before the next point is chosen.
    """
    best = jnp.max(jnp.where(posterior.mask, posterior.y, -jnp.inf))

    def choose(carry, inputs):
        posterior, best = carry
        key_point, slot = inputs
        point = maximize_acquisition(
            key_point, kind, posterior, best, anchors, meta_params,
            num_candidates, num_refine, refine_steps,
        )  # fmt: skip
        believed, _ = predict_normalized(posterior, point[None])
        posterior = condition(
            posterior,
            posterior.x.at[slot].set(point),
            posterior.y.at[slot].set(believed[0]),
            posterior.mask.at[slot].set(True),
        )
        return (posterior, jnp.maximum(best, believed[0])), point

    keys = jax.random.split(key, batch_size)
    slots = first_free_slot + jnp.arange(batch_size)
    return jax.lax.scan(choose, (posterior, best), (keys, slots))[1]
