"""Plain-Python checks of a MAML-family config, run at construction: every
bad value raises a ValueError naming the field and its allowed values
before anything is traced."""

from jaxmeta.learners.base import check_positive_ints
from jaxmeta.learners.common.on_policy import OnPolicyLearner
from jaxmeta.nets.mlp import check_activation


def _check_choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(
            f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}"
        )


def check_config(config, outer_optimizers, baselines, estimators) -> None:
    """Validate the static fields of a `MAML` (or subclass) instance."""
    check_positive_ints(
        inner_steps=config.inner_steps,
        meta_batch_size=config.meta_batch_size,
        num_episodes=config.num_episodes,
        horizon=config.horizon,
        cg_iters=config.cg_iters,
        line_search_steps=config.line_search_steps,
    )
    for name in ("first_order", "meta_sgd"):
        if not isinstance(getattr(config, name), bool):
            raise ValueError(
                f"{name} must be True or False, got {getattr(config, name)!r}"
            )
    hidden = config.hidden
    if not isinstance(hidden, tuple | list) or any(
        not isinstance(h, int) or isinstance(h, bool) or h <= 0 for h in hidden
    ):
        raise ValueError(
            f"hidden must be a tuple of positive layer widths (() is a linear "
            f"policy), got {hidden!r}"
        )
    object.__setattr__(config, "hidden", tuple(hidden))
    check_activation(config.activation)
    _check_choice("outer_optimizer", config.outer_optimizer, outer_optimizers)
    _check_choice("baseline", config.baseline, baselines)
    _check_choice("estimator", config.estimator, estimators)
    if not 0 < config.backtrack_ratio < 1:
        raise ValueError(
            f"backtrack_ratio must lie in (0, 1), got {config.backtrack_ratio!r}"
        )
    if not isinstance(config.pool_seed, int):
        raise ValueError(f"pool_seed must be an integer, got {config.pool_seed!r}")
    if config.learner is not None:
        _check_learner(config)


def _check_learner(config) -> None:
    """A learner's update is the inner step only when it is an on-policy
    learner on the adapter's env (its actor gives the outer surrogate's
    log-probabilities) whose own optimiser sets the step."""
    learner = config.learner
    if not isinstance(learner, OnPolicyLearner):
        raise ValueError(
            f"learner must be an on-policy learner (PPO, Reinforce, TRPO: an "
            f"OnPolicyLearner whose update is differentiable in its params) or "
            f"None for the built-in step, got {type(learner).__name__}"
        )
    if learner.env is not config.env:
        raise ValueError("learner.env must be the adapter's env (the same object)")
    if learner.normalize_obs:
        raise ValueError(
            "learner.normalize_obs must be False: the outer surrogate feeds raw "
            "observations to the learner's actor"
        )
    fixed = {
        "meta_sgd": (False, "the learner's optimiser sets its own step"),
        "outer_optimizer": ("adam", "TRPO replays samples; an update samples its own"),
        "estimator": ("dice", "the learner's update sets its own curvature"),
    }
    for name, (allowed, why) in fixed.items():
        if getattr(config, name) != allowed:
            raise ValueError(
                f"{name} must be {allowed!r} with a learner inner step ({why}), "
                f"got {getattr(config, name)!r}"
            )
