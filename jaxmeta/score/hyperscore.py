"""HyperScore: a bounded, top-heavy transform of a normalised return.

    HyperScore = 100 * (1 + sigmoid(beta * ln V + gamma) ** kappa)

V in (0, 1] is the return normalised by known bounds (low, high) or, when they
are not given, by the population's min and max. For beta > 0 and kappa > 0 the
score is non-decreasing in V and lies in [100, 200].

Defaults. The SAM-HRL-HS paper (seeds/000) gives the formula but no values: it
fits beta, gamma, kappa by Bayesian optimisation. Our defaults put the sigmoid's
midpoint at V = 1/2 (gamma = beta * ln 2) with beta = 5, so V in [1/4, 1] spans
the range, and kappa = 2 sharpens the top: V = 1 -> 194.0, 3/4 -> 178.1,
1/2 -> 125.0, 1/4 -> 100.1.

Failed runs. A NaN or infinite return scores exactly 100, the minimum of the
range: never above any finite return's score (the worst finite return of a
min-max-normalised population also scores 100 up to float32 rounding). Use
`hyper_score_with_mask` to get the mask of failed members, to report them.

What searchers are told. In float32 the HyperScore rounds to exactly 100 for
every poor return (V = 0.1, 0.05 and 0.02 all give 100.00), so a searcher would
see a flat landscape wherever members are still poor. Searchers are told
`hyper_score_log_excess` instead: log((HyperScore - 100) / 100) =
kappa * log_sigmoid(beta ln V + gamma), computed in log space. It is strictly
increasing in the return for every finite return (V is not clipped: above the
upper bound ln V keeps growing; below V_EPS it continues linearly in V), and
NaN for a failed run, so the searcher records a failed trial.
"""

import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np

from jaxmeta.types import Array

DEFAULT_BETA = 5.0
DEFAULT_GAMMA = 5.0 * math.log(2.0)
DEFAULT_KAPPA = 2.0
# Lower clip of V, so ln V stays finite for the worst member.
V_EPS = 1e-6


def _concrete(value) -> float | None:
    """A Python/NumPy scalar's value (validated eagerly); None for arrays that
    may be traced, which are left unchecked."""
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return float(value)
    return None


def _check_bounds(low, high) -> None:
    low_value, high_value = _concrete(low), _concrete(high)
    for name, value in (("low", low_value), ("high", high_value)):
        if value is not None and not math.isfinite(value):
            raise ValueError(f"{name} must be finite or None, got {value!r}")
    if low_value is not None and high_value is not None and low_value >= high_value:
        raise ValueError(
            f"low must be < high (allowed: low < high), got low={low_value!r} "
            f"high={high_value!r}"
        )


def _check_shape_params(beta, gamma, kappa) -> None:
    for name, value in (("beta", beta), ("gamma", gamma), ("kappa", kappa)):
        value = _concrete(value)
        if value is not None and not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
    kappa_value = _concrete(kappa)
    if kappa_value is not None and kappa_value <= 0:
        raise ValueError(f"kappa must be > 0 (allowed: kappa > 0), got {kappa!r}")


def normalise_returns(returns: Array, low=None, high=None) -> Array:
    """Returns `[...]` -> V `[...]` in [V_EPS, 1].

    V = (return - low) / (high - low), clipped. `low`/`high` are known bounds
    (scalars or arrays broadcastable to `returns`); each one left as None is the
    min/max over all finite entries of `returns` (the population). When the
    range is empty (e.g. every member returned the same), finite members get
    V = 1. NaN/inf returns get V = V_EPS. Python-number bounds are validated
    eagerly (low < high).
    """
    _check_bounds(low, high)
    return _normalise(returns, low, high)


# Jitted cores (validation stays outside, in plain Python): called eagerly on
# host results they compile once per shape instead of once per primitive.
def _raw_normalised(returns, low, high):
    """(V unclipped, finite mask): V = (return - low) / (high - low), bounds
    left as None taken over the finite returns; V = 1 for an empty range."""
    returns = jnp.asarray(returns, jnp.float32)
    finite = jnp.isfinite(returns)
    if low is None:
        low = jnp.min(jnp.where(finite, returns, jnp.inf))
    if high is None:
        high = jnp.max(jnp.where(finite, returns, -jnp.inf))
    low = jnp.asarray(low, jnp.float32)
    high = jnp.asarray(high, jnp.float32)
    span = high - low
    safe_span = jnp.where(span > 0, span, 1.0)
    return jnp.where(span > 0, (returns - low) / safe_span, 1.0), finite


@jax.jit
def _normalise(returns, low, high):
    v, finite = _raw_normalised(returns, low, high)
    v = jnp.clip(v, V_EPS, 1.0)
    return jnp.where(finite, v, V_EPS)


def hyper_score_of_normalised(
    v: Array,
    beta=DEFAULT_BETA,
    gamma=DEFAULT_GAMMA,
    kappa=DEFAULT_KAPPA,
) -> Array:
    """The formula on V `[...]` in (0, 1] -> HyperScore `[...]`.

    beta, gamma, kappa may be traced (e.g. fitted by a GP); Python numbers are
    validated eagerly (finite, kappa > 0). Computed as
    exp(kappa * log_sigmoid(.)) for stable values and gradients.
    """
    _check_shape_params(beta, gamma, kappa)
    return _of_normalised(v, beta, gamma, kappa)


@jax.jit
def _of_normalised(v, beta, gamma, kappa):
    v = jnp.asarray(v, jnp.float32)
    logit = beta * jnp.log(v) + gamma
    return 100.0 * (1.0 + jnp.exp(kappa * jax.nn.log_sigmoid(logit)))


def hyper_score_with_mask(
    returns: Array,
    low=None,
    high=None,
    beta=DEFAULT_BETA,
    gamma=DEFAULT_GAMMA,
    kappa=DEFAULT_KAPPA,
) -> tuple[Array, Array]:
    """Returns `[...]` -> (HyperScore `[...]`, failed `[...]` bool).

    `failed` marks NaN/inf returns; they score exactly 100. Bounds as in
    `normalise_returns` (None = population min/max).
    """
    _check_bounds(low, high)
    _check_shape_params(beta, gamma, kappa)
    return _with_mask(returns, low, high, beta, gamma, kappa)


@jax.jit
def _with_mask(returns, low, high, beta, gamma, kappa):
    returns = jnp.asarray(returns, jnp.float32)
    failed = ~jnp.isfinite(returns)
    scores = _of_normalised(_normalise(returns, low, high), beta, gamma, kappa)
    return jnp.where(failed, 100.0, scores), failed


def hyper_score(
    returns: Array,
    low=None,
    high=None,
    beta=DEFAULT_BETA,
    gamma=DEFAULT_GAMMA,
    kappa=DEFAULT_KAPPA,
) -> Array:
    """Returns `[...]` -> HyperScore `[...]` in [100, 200] (NaN/inf -> 100).

    E.g. CartPole-v1: `hyper_score(final_returns, low=0.0, high=500.0)`.
    """
    return hyper_score_with_mask(returns, low, high, beta, gamma, kappa)[0]


def hyper_score_log_excess(
    returns: Array,
    low=None,
    high=None,
    beta=DEFAULT_BETA,
    gamma=DEFAULT_GAMMA,
    kappa=DEFAULT_KAPPA,
) -> Array:
    """Returns `[...]` -> log((HyperScore - 100) / 100) `[...]`, the strictly
    monotone form searchers are told (NaN for NaN/inf returns).

    Bounds as in `normalise_returns` (None = min/max over the finite returns).
    For V = (return - low) / (high - low): kappa * log_sigmoid(beta * ln V +
    gamma), V unclipped above 1, and below V_EPS ln V replaced by
    ln V_EPS + (V - V_EPS): returns at or below the lower bound stay ordered
    without the huge values (and GP outliers) of ln V near 0.
    """
    _check_bounds(low, high)
    _check_shape_params(beta, gamma, kappa)
    return _log_excess(returns, low, high, beta, gamma, kappa)


@jax.jit
def _log_excess(returns, low, high, beta, gamma, kappa):
    v, finite = _raw_normalised(returns, low, high)
    log_v = jnp.where(
        v > V_EPS,
        jnp.log(jnp.maximum(v, V_EPS)),
        math.log(V_EPS) + (v - V_EPS),
    )
    told = kappa * jax.nn.log_sigmoid(beta * log_v + gamma)
    return jnp.where(finite, told, jnp.nan)
