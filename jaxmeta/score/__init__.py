"""Scores of finished runs (higher is better): HyperScore over normalised
returns, and episodes-to-target."""

from jaxmeta.score.episodes import (
    episodes_to_target,
    episodes_to_target_from_updates,
)
from jaxmeta.score.hyperscore import (
    DEFAULT_BETA,
    DEFAULT_GAMMA,
    DEFAULT_KAPPA,
    hyper_score,
    hyper_score_log_excess,
    hyper_score_of_normalised,
    hyper_score_with_mask,
    normalise_returns,
)

__all__ = [
    "DEFAULT_BETA",
    "DEFAULT_GAMMA",
    "DEFAULT_KAPPA",
    "episodes_to_target",
    "episodes_to_target_from_updates",
    "hyper_score",
    "hyper_score_log_excess",
    "hyper_score_of_normalised",
    "hyper_score_with_mask",
    "normalise_returns",
]
