"""Inner RL learners: static config dataclasses with traced hyperparameters."""

from jaxmeta.learners.base import hparams_with, train, train_from
from jaxmeta.learners.ppo import PPO, PPOHParams
from jaxmeta.learners.registry import LEARNERS, make_learner
from jaxmeta.learners.reinforce import Reinforce, ReinforceHParams
from jaxmeta.learners.trpo import TRPO, TRPOHParams

__all__ = [
    "LEARNERS",
    "PPO",
    "PPOHParams",
    "Reinforce",
    "ReinforceHParams",
    "TRPO",
    "TRPOHParams",
    "hparams_with",
    "make_learner",
    "train",
    "train_from",
]
