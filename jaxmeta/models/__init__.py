"""Regressors used by meta-levels: exact Gaussian processes, extremely randomised
trees, and Fitted-Q Iteration on top of any fit/predict regressor."""

from jaxmeta.models.extra_trees import ExtraTrees
from jaxmeta.models.fqi import FittedQIteration, Transitions, greedy_action, q_values
from jaxmeta.models.gp import GPConfig, fit_gp, log_marginal_likelihood, predict

__all__ = [
    "ExtraTrees",
    "FittedQIteration",
    "GPConfig",
    "Transitions",
    "fit_gp",
    "greedy_action",
    "log_marginal_likelihood",
    "predict",
    "q_values",
]
