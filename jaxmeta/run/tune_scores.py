"""How a tuning round's members are scored and told (`run.tune`, and the
multi-fidelity tuner through `score_round`).

The searcher is told `hyper_score_log_excess` of each member's evaluation
return (NaN for a failed member); the HyperScore is for display. With
`return_bounds` omitted, returns are normalised over every member evaluated
so far and the searcher's memory is rescored as that range moves.

Online calibration (`TuneConfig.calibrate_online`). Each member's early
performance is the mean of its finite training returns over the round's
first chunk (`early_returns`); its final performance is its evaluation
return. At every round's end the pairs of all rounds so far refit the
HyperScore's beta, gamma, kappa (`score.calibrate_online.refit_shape`, GP-BO
on Pearson r), and every score (this round's and, by `rescore`, the earlier
rounds') is computed with the calibrated shape. The shape lives in
`shared["calibration"]`, so a resumed run continues with it. Early returns
are normalised like the finals: by `return_bounds`, or else over the range of
every early and final return seen so far.
"""

import jax
import jax.numpy as jnp

from jaxmeta.score import hyper_score, hyper_score_log_excess, normalise_returns
from jaxmeta.score.calibrate import HyperScoreShape
from jaxmeta.score.calibrate_online import default_shape, refit_shape


def empty_calibration() -> dict:
    """`shared["calibration"]` before any refit: the default shape and
    correlation -1 (none measured), [] float32 each."""
    shape = default_shape()
    return {
        "beta": shape.beta,
        "gamma": shape.gamma,
        "kappa": shape.kappa,
        "correlation": jnp.float32(-1.0),
    }


@jax.jit
def early_returns(episode_return):
    """`episode_return: [pop, chunk]` (NaN where no episode ended) -> [pop]
    mean of the finite entries (NaN when there are none)."""
    finite = jnp.isfinite(episode_return)
    total = jnp.sum(jnp.where(finite, episode_return, 0.0), axis=1)
    count = jnp.sum(finite, axis=1)
    return jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)


def _bounds(bounds, history):
    if bounds is not None:
        return jnp.float32(bounds[0]), jnp.float32(bounds[1])
    valid = history["mask"] & jnp.isfinite(history["returns"])
    low = jnp.min(jnp.where(valid, history["returns"], jnp.inf))
    high = jnp.max(jnp.where(valid, history["returns"], -jnp.inf))
    return low, high


def _refit(key, bounds, history, low, high, calibration, num_rounds):
    """(shape, correlation) refitted on every (early, final) pair so far."""
    early, final = history["early"], history["returns"]
    pairs = history["mask"] & jnp.isfinite(early) & jnp.isfinite(final)
    if bounds is None:
        low = jnp.minimum(low, jnp.min(jnp.where(pairs, early, jnp.inf)))
        high = jnp.maximum(high, jnp.max(jnp.where(pairs, early, -jnp.inf)))
    v_early = normalise_returns(jnp.where(pairs, early, jnp.nan), low, high)
    current = HyperScoreShape(
        calibration["beta"], calibration["gamma"], calibration["kappa"]
    )
    return refit_shape(key, v_early, final, pairs, current, num_rounds)


def score_round(
    searcher, bounds, key_tell, hparams, returns, failed, trial, shared, meta,
    round_index, early=None, calibration_rounds=12,
):  # fmt: skip
    """Score one round's members and tell the searcher.

    hparams: leaves [pop]; returns, failed, trial: [pop] (evaluation returns,
    failed members, real trials); shared: {"searcher", "history"} where the
    history holds every round's z [rounds * pop, dim], returns (NaN = failed)
    and trial mask. bounds: (low, high), or None to normalise over every member
    evaluated so far (then the searcher's memory of earlier rounds is rescored
    first). early: None, or [pop] early training returns to calibrate the
    HyperScore online with (module doc; shared then also holds
    "calibration" and history "early"; calibration_rounds: GP-BO rounds of
    4 shapes per refit). Failed members are told NaN.
    Returns `(shared, outputs)`.
    """
    pop = returns.shape[0]
    history = shared["history"]
    offset = round_index * pop
    scored = jnp.where(failed, jnp.nan, returns)
    history = {
        **history,
        "z": jax.lax.dynamic_update_slice(
            history["z"], searcher.space.from_hparams(hparams), (offset, 0)
        ),
        "returns": jax.lax.dynamic_update_slice(history["returns"], scored, (offset,)),
        "mask": jax.lax.dynamic_update_slice(history["mask"], trial, (offset,)),
    }
    low, high = _bounds(bounds, history)
    shape, extra = (), {}  # () = the default shape, exactly as before
    if early is not None:
        history["early"] = jax.lax.dynamic_update_slice(
            history["early"], jnp.where(failed, jnp.nan, early), (offset,)
        )
        key_calibrate = jax.random.fold_in(key_tell, 1)
        fitted, r = _refit(
            key_calibrate,
            bounds,
            history,
            low,
            high,
            shared["calibration"],
            calibration_rounds,
        )
        shape = (fitted.beta, fitted.gamma, fitted.kappa)
        extra["calibration"] = {
            "beta": fitted.beta, "gamma": fitted.gamma, "kappa": fitted.kappa,
            "correlation": r,
        }  # fmt: skip
    told_all = hyper_score_log_excess(history["returns"], low, high, *shape)
    told = jax.lax.dynamic_slice(told_all, (offset,), (pop,))
    searcher_state = shared["searcher"]
    if bounds is None or early is not None:
        earlier = history["mask"] & (jnp.arange(history["mask"].shape[0]) < offset)
        searcher_state = searcher.rescore(
            searcher_state, history["z"], told_all, earlier
        )
    searcher_state, meta_metrics = searcher.tell(
        key_tell, hparams, told, searcher_state, meta
    )
    display = hyper_score(scored, low, high, *shape)
    outputs = {
        "eval_return": returns,
        "told_score": told,
        "hyperscore": display,
        "trial": trial,
        "hparams": hparams,
        "bounds": jnp.stack([low, high]),
        "meta": meta_metrics,
    }
    if early is not None:
        outputs["shape"] = jnp.stack(shape)
        outputs["calibration_r"] = extra["calibration"]["correlation"]
        outputs["early_return"] = early
    new = {**shared, "searcher": searcher_state, "history": history, **extra}
    return new, outputs
