"""Inner RL learners: static config dataclasses with traced hyperparameters."""

from jaxmeta.learners.base import hparams_with, train, train_from
from jaxmeta.learners.dqn import DQN, DQNHParams
from jaxmeta.learners.es import ES, ESHParams
from jaxmeta.learners.esac import ESAC, ESACHParams
from jaxmeta.learners.nsr_es import NSRES, NSRHParams
from jaxmeta.learners.ppo import PPO, PPOHParams
from jaxmeta.learners.ppo_episodic import EpisodicPPO
from jaxmeta.learners.registry import LEARNERS, make_learner
from jaxmeta.learners.reinforce import Reinforce, ReinforceHParams
from jaxmeta.learners.sac import SAC, SACHParams
from jaxmeta.learners.trpo import TRPO, TRPOHParams
from jaxmeta.learners.trpo_episodic import EpisodicTRPO

__all__ = [
    "DQN",
    "DQNHParams",
    "ES",
    "ESAC",
    "ESACHParams",
    "ESHParams",
    "EpisodicPPO",
    "LEARNERS",
    "NSRES",
    "NSRHParams",
    "PPO",
    "PPOHParams",
    "Reinforce",
    "ReinforceHParams",
    "SAC",
    "SACHParams",
    "EpisodicTRPO",
    "TRPO",
    "TRPOHParams",
    "hparams_with",
    "make_learner",
    "train",
    "train_from",
]
