"""Inner RL learners: static config dataclasses with traced hyperparameters."""

from jaxmeta.learners.base import hparams_with, train, train_from
from jaxmeta.learners.dqn import DQN, DQNHParams
from jaxmeta.learners.es import ES, ESHParams
from jaxmeta.learners.esac import ESAC, ESACHParams
from jaxmeta.learners.hierarchical.maxq import MAXQ
from jaxmeta.learners.hierarchical.options import SMDPQ, IntraOptionQ
from jaxmeta.learners.nsr_es import NSRES, NSRHParams
from jaxmeta.learners.ppo import PPO, PPOHParams
from jaxmeta.learners.ppo_episodic import EpisodicPPO
from jaxmeta.learners.qlearning import SARSA, QLearning
from jaxmeta.learners.registry import LEARNERS, make_learner
from jaxmeta.learners.reinforce import Reinforce, ReinforceHParams
from jaxmeta.learners.sac import SAC, SACHParams
from jaxmeta.learners.td3 import TD3, TD3HParams
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
    "IntraOptionQ",
    "LEARNERS",
    "MAXQ",
    "NSRES",
    "NSRHParams",
    "PPO",
    "PPOHParams",
    "QLearning",
    "Reinforce",
    "ReinforceHParams",
    "SARSA",
    "SMDPQ",
    "SAC",
    "SACHParams",
    "TD3",
    "TD3HParams",
    "EpisodicTRPO",
    "TRPO",
    "TRPOHParams",
    "hparams_with",
    "make_learner",
    "train",
    "train_from",
]
