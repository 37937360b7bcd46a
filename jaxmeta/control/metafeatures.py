"""Metafeatures of a policy's trajectories (seeds/002, Table 1), with
k-nearest-neighbour estimators; pure, jitted, vmappable.

For samples X ~ p ([n, d]) and Y ~ q ([m, d]), with rho_k(i) the distance
from X_i to its k-th nearest neighbour among the other X and nu_k(i) the one
to its k-th nearest neighbour in Y:

    H(p)        = psi(n) - psi(k) + log c_d + d mean_i log rho_k(i)
                  (Kozachenko-Leonenko; Singh et al. 2003)
    KL(p || q)  = d mean_i log(nu_k(i) / rho_k(i)) + log(m / (n - 1))
                  (Wang, Kulkarni and Verdu 2009)
    C(p, q)     = H(p) + KL(p || q)          (cross-entropy, -E_p log q)

c_d is the volume of the unit d-ball. Conditional quantities are joint minus
marginal: H(a|s) = H(s, a) - H(s), H(s'|s, a) = H(s, a, s') - H(s, a), and
likewise for KL and C (the chain rule). Distances get 1e-8 added before the
log, so repeated points (a constant observation) give a finite, very negative
entropy instead of -inf.

`metafeatures(batch_t, batch_prev)` returns, for each of p(s), p(a|s) and
p(s'|s, a): H at t, H at t-1, C(t, t-1), C(t-1, t), KL(t || t-1),
KL(t-1 || t); then the mean and variance of the episode returns at t and t-1:
22 numbers. Each step's transitions are subsampled to `points` (static) so
the pairwise distances stay [points, points].
"""

import dataclasses
import math

import jax
import jax.numpy as jnp
from jax.scipy.special import digamma

DISTRIBUTIONS = ("state", "action_given_state", "next_state_given_state_action")
QUANTITIES = ("H_t", "H_prev", "C_t_prev", "C_prev_t", "KL_t_prev", "KL_prev_t")
NAMES = tuple(f"{d}/{q}" for d in DISTRIBUTIONS for q in QUANTITIES) + (
    "return_mean_t",
    "return_var_t",
    "return_mean_prev",
    "return_var_prev",
)
EPS = 1e-8
PREFIX = "meta/"
META_NAMES = tuple(PREFIX + name for name in NAMES)  # as learners report them


def check_k(k: int, n: int) -> None:
    """kNN estimators need k >= 1 and more than k samples."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")
    if n < k + 1:
        raise ValueError(
            f"the kNN estimators need N >= k + 1 samples (N = {n}, k = {k})"
        )


def _log_unit_ball(d: int) -> float:
    return 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d + 1)


def _kth_distance(x, y, k: int, exclude_self: bool, y_valid=None):
    """[n] distance from each x to its k-th nearest valid y."""
    sq = jnp.sum((x[:, None, :] - y[None, :, :]) ** 2, axis=-1)
    if exclude_self:
        sq = sq + jnp.diag(jnp.full(x.shape[0], jnp.inf))
    if y_valid is not None:
        sq = jnp.where(y_valid[None, :], sq, jnp.inf)
    nearest = -jax.lax.top_k(-sq, k)[0]  # ascending
    return jnp.sqrt(jnp.maximum(nearest[:, k - 1], 0.0))


def _valid_mean(values, valid):
    if valid is None:
        return jnp.mean(values)
    return jnp.sum(jnp.where(valid, values, 0.0)) / jnp.maximum(valid.sum(), 1)


def _count(x, valid):
    if valid is None:
        return jnp.float32(x.shape[0])
    return valid.sum().astype(jnp.float32)


def entropy(x, k: int = 5, valid=None):
    """Kozachenko-Leonenko entropy (nats) of samples x [n, d]; valid: [n]
    bool or None (rows marked False are ignored; needs > k valid rows)."""
    d = x.shape[1]
    rho = _kth_distance(x, x, k, True, valid)
    return (
        digamma(_count(x, valid))
        - digamma(jnp.float32(k))
        + _log_unit_ball(d)
        + d * _valid_mean(jnp.log(rho + EPS), valid)
    )


def kl_divergence(x, y, k: int = 5, valid_x=None, valid_y=None):
    """kNN estimate of KL(p || q) from x [n, d] ~ p and y [m, d] ~ q;
    valid_x [n], valid_y [m]: bool masks or None."""
    d = x.shape[1]
    n, m = _count(x, valid_x), _count(y, valid_y)
    rho = _kth_distance(x, x, k, True, valid_x)
    nu = _kth_distance(x, y, k, False, valid_y)
    log_ratio = jnp.log(nu + EPS) - jnp.log(rho + EPS)
    return d * _valid_mean(log_ratio, valid_x) + jnp.log(m / (n - 1))


def cross_entropy(x, y, k: int = 5, valid_x=None, valid_y=None):
    """kNN estimate of C(p, q) = -E_p log q = H(p) + KL(p || q)."""
    return entropy(x, k, valid_x) + kl_divergence(x, y, k, valid_x, valid_y)


def _six(now, before, k, valid_now, valid_before):
    """(H_t, H_prev, C(t,prev), C(prev,t), KL(t||prev), KL(prev||t))."""
    h_now, h_before = entropy(now, k, valid_now), entropy(before, k, valid_before)
    kl_now = kl_divergence(now, before, k, valid_now, valid_before)
    kl_before = kl_divergence(before, now, k, valid_before, valid_now)
    return jnp.stack(
        [h_now, h_before, h_now + kl_now, h_before + kl_before, kl_now, kl_before]
    )


def subsample(key, batch: dict, points: int) -> dict:
    """`points` transitions drawn without replacement from a batch of
    {"obs", "action", "next_obs": [M, ...]} (flattened to 2-D), with an
    optional "valid" [M] bool: valid rows are drawn first (a Gumbel top-k),
    and the result's "valid" [points] marks which drawn rows are real."""
    size = batch["obs"].shape[0]
    valid = batch.get("valid")
    if valid is None:
        index = jax.random.permutation(key, size)[:points]
        chosen = jnp.ones(points, bool)
    else:
        priority = jax.random.gumbel(key, (size,)) + jnp.where(valid, 0.0, -1e9)
        index = jax.lax.top_k(priority, points)[1]
        chosen = valid[index]
    out = {
        k: batch[k].reshape(size, -1)[index].astype(jnp.float32)
        for k in ("obs", "action", "next_obs")
    }
    out["valid"] = chosen
    return out


def metafeatures(
    key,
    batch_t: dict,
    batch_prev: dict,
    returns_t,
    returns_prev,
    points: int = 256,
    k: int = 5,
):
    """The 22 metafeatures (`NAMES`) of one meta-step.

    batch_t, batch_prev: transitions of steps t and t-1, {"obs": [M, ds],
    "action": [M, da], "next_obs": [M, ds]} with M >= points and optionally
    "valid": [M] bool (padding rows False; at least k + 1 valid rows);
    returns_t, returns_prev: [N] episode returns. Returns [22] float32.
    """
    check_k(k, min(points, batch_t["obs"].shape[0], batch_prev["obs"].shape[0]))
    key_t, key_prev = jax.random.split(key)
    now, before = (
        subsample(key_t, batch_t, points),
        subsample(key_prev, batch_prev, points),
    )

    def joint(b, parts):
        return jnp.concatenate([b[p] for p in parts], axis=-1)

    masks = (now["valid"], before["valid"])
    s = _six(now["obs"], before["obs"], k, *masks)
    sa = _six(
        joint(now, ("obs", "action")), joint(before, ("obs", "action")), k, *masks
    )
    sas = _six(
        joint(now, ("obs", "action", "next_obs")),
        joint(before, ("obs", "action", "next_obs")),
        k,
        *masks,
    )
    moments = jnp.stack(
        [
            jnp.mean(returns_t),
            jnp.var(returns_t),
            jnp.mean(returns_prev),
            jnp.var(returns_prev),
        ]
    )
    return jnp.concatenate([s, sa - s, sas - sa, moments]).astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class MetaFeatures:
    """The 22 metafeatures as a static, hashable callable that a learner
    computes every step (`EpisodicTRPO(features=MetaFeatures())`): it reports
    them as `names` (`meta/<NAME>`). points: transitions subsampled per step
    (at most the batch's size); k: the kNN order."""

    points: int = 256
    k: int = 5
    names = META_NAMES

    def __post_init__(self):
        if isinstance(self.points, bool) or not isinstance(self.points, int):
            raise ValueError(f"points must be a positive int, got {self.points!r}")
        check_k(self.k, self.points)

    def check(self, episodes: int) -> None:
        """Each step has at least `episodes` valid transitions (one per
        episode): the estimators need k + 1 of them."""
        check_k(self.k, min(self.points, episodes))

    def __call__(self, key, batch_t, batch_prev, returns_t, returns_prev):
        """[22] float32; see `metafeatures`."""
        size = min(batch_t["obs"].shape[0], batch_prev["obs"].shape[0])
        return metafeatures(
            key,
            batch_t,
            batch_prev,
            returns_t,
            returns_prev,
            min(self.points, size),
            self.k,
        )


def gaussian_entropy(cov):
    """Closed form: H(N(mu, cov)) = 0.5 log((2 pi e)^d |cov|)."""
    d = cov.shape[0]
    return 0.5 * (d * math.log(2 * math.pi * math.e) + jnp.linalg.slogdet(cov)[1])


def gaussian_kl(mean_p, cov_p, mean_q, cov_q):
    """Closed form KL(N(mean_p, cov_p) || N(mean_q, cov_q))."""
    d = mean_p.shape[0]
    inv_q = jnp.linalg.inv(cov_q)
    diff = mean_q - mean_p
    return 0.5 * (
        jnp.trace(inv_q @ cov_p)
        + diff @ inv_q @ diff
        - d
        + jnp.linalg.slogdet(cov_q)[1]
        - jnp.linalg.slogdet(cov_p)[1]
    )


__all__ = [
    "META_NAMES",
    "MetaFeatures",
    "NAMES",
    "cross_entropy",
    "entropy",
    "gaussian_entropy",
    "gaussian_kl",
    "kl_divergence",
    "metafeatures",
    "subsample",
]
