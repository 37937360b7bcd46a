"""Policy-gradient surrogates of the MAML family (docs/maml.md).

All estimate J = E[sum_t gamma^t r_t] of one task, per time slot (divided
by T * N, rllab's mean over steps), on a batch of `Episodes`, and all have
the same gradient: the REINFORCE estimate sum_t gamma^t grad log pi_t
(G_t - b_t) / (T N), G_t the returns-to-go and b_t a baseline. They differ
in their second derivative, which is what differentiating through an inner
step uses:

- `dice_objective`: DiCE (Foerster et al., 2018) with the baseline term of
  Mao et al. (2019). Its Hessian is an unbiased estimate of J's Hessian
  (the baseline term has zero expectation at every order).
- `score_surrogate`: sum_t gamma^t log pi_t (G_t - b_t), the surrogate of
  Finn et al.'s implementation. Its Hessian is the derivative of the
  sampled gradient estimate on fixed samples: it lacks the score
  outer-product part of J's Hessian, which the pre-update score term of
  the full estimator supplies instead.
- `importance_surrogate`, the outer objective: the ratio pi / pi_sample
  times the advantage; away from the sampling policy (TRPO's line search)
  the usual importance-sampled estimate of the improvement.
"""

import jax
import jax.numpy as jnp

from jaxmeta.adapt.common.episodes import Episodes
from jaxmeta.learners.common.linear_baseline import linear_baseline

BASELINES = ("linear", "none")
# The meta-gradient estimators (docs/maml.md): the inner objective's Hessian,
# and whether the pre-update samples' score term is added.
ESTIMATORS = ("dice", "maml-rl", "full")


def magic_box(x):
    """DiCE's operator: evaluates to 1, d/dx magic_box(x) = magic_box(x)."""
    return jnp.exp(x - jax.lax.stop_gradient(x))


def _discount(gamma, steps: int):
    return jnp.power(gamma, jnp.arange(steps, dtype=jnp.float32))[:, None]


def returns_to_go(episodes: Episodes, gamma):
    """[T, N] sum_{t' >= t} gamma^(t' - t) r_t' within each first episode.

    A [T, T] triangular matrix product rather than a backward scan: padding
    after each first episode is zero, so no episode boundary is needed, and
    the product has no sequential loop to run or to differentiate."""
    steps = episodes.reward.shape[0]
    lag = jnp.arange(steps)[None, :] - jnp.arange(steps)[:, None]
    powers = jnp.power(gamma, jnp.maximum(lag, 0).astype(jnp.float32))
    weights = jnp.where(lag >= 0, powers, 0.0)
    return weights @ (episodes.reward * episodes.valid)


def baseline_values(episodes: Episodes, gamma, kind: str, reg):
    """[T, N] baseline of the returns-to-go: rllab's linear feature baseline
    fitted on this batch (`kind="linear"`), or zeros (`"none"`)."""
    if kind == "none":
        return jnp.zeros_like(episodes.reward)
    return linear_baseline(
        episodes.obs, returns_to_go(episodes, gamma), episodes.valid, reg
    )


def dice_objective(log_prob, episodes: Episodes, baseline, gamma):
    """[] DiCE estimate of J (to maximise).

    log_prob: [T, N] log pi(a_t | s_t) under the params being differentiated
    (0 on padding, see `episode_log_prob`); baseline: [T, N] from
    `baseline_values`. Its gradient is sum_t gamma^t grad log pi_t
    (G_t - b_t) / (T N) with G_t the returns-to-go.
    """
    steps, num = log_prob.shape
    cumulative = jnp.cumsum(log_prob, axis=0)
    previous = cumulative - log_prob
    reward_term = magic_box(cumulative) * episodes.reward
    baseline_term = (1.0 - magic_box(log_prob)) * magic_box(previous) * baseline
    per_step = episodes.valid * _discount(gamma, steps) * (reward_term + baseline_term)
    return jnp.sum(per_step) / (steps * num)


def score_surrogate(log_prob, episodes: Episodes, baseline, gamma):
    """[] sum_t gamma^t log pi_t (G_t - b_t) / (T N) (log_prob as in
    `dice_objective`; its value is not J, its gradient is)."""
    steps, num = log_prob.shape
    advantage = returns_to_go(episodes, gamma) - baseline
    per_step = episodes.valid * _discount(gamma, steps) * log_prob * advantage
    return jnp.sum(per_step) / (steps * num)


def importance_surrogate(log_prob, episodes: Episodes, baseline, gamma):
    """[] sum_t gamma^t (pi / pi_sample)(a_t | s_t) (G_t - b_t) / (T N), the
    outer surrogate (log_prob as in `dice_objective`)."""
    steps, num = log_prob.shape
    ratio = jnp.exp(episodes.valid * (log_prob - episodes.log_prob))
    advantage = returns_to_go(episodes, gamma) - baseline
    per_step = episodes.valid * _discount(gamma, steps) * ratio * advantage
    return jnp.sum(per_step) / (steps * num)


def discounted_value(episodes: Episodes, gamma):
    """[] the batch's estimate of J: sum_t gamma^t r_t / (T N)."""
    steps, num = episodes.reward.shape
    per_step = episodes.valid * _discount(gamma, steps) * episodes.reward
    return jnp.sum(per_step) / (steps * num)
