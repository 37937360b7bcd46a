"""Name -> learner class, so tests and the CLI can iterate over every learner."""

from jaxmeta.learners.dqn import DQN
from jaxmeta.learners.es import ES
from jaxmeta.learners.esac import ESAC
from jaxmeta.learners.hierarchical.diayn import DIAYN
from jaxmeta.learners.hierarchical.feudal import FeUdal
from jaxmeta.learners.hierarchical.hdqn import HDQN
from jaxmeta.learners.hierarchical.hiro import HIRO
from jaxmeta.learners.hierarchical.maxq import MAXQ
from jaxmeta.learners.hierarchical.option_critic import OptionCritic
from jaxmeta.learners.hierarchical.option_critic_net import OptionCriticNet
from jaxmeta.learners.hierarchical.options import SMDPQ, IntraOptionQ
from jaxmeta.learners.lstm_a2c import LSTMA2C
from jaxmeta.learners.nsr_es import NSRES
from jaxmeta.learners.ppo import PPO
from jaxmeta.learners.ppo_episodic import EpisodicPPO
from jaxmeta.learners.qlearning import SARSA, QLearning
from jaxmeta.learners.reinforce import Reinforce
from jaxmeta.learners.sac import SAC
from jaxmeta.learners.td3 import TD3
from jaxmeta.learners.trpo import TRPO
from jaxmeta.learners.trpo_episodic import EpisodicTRPO
from jaxmeta.validation import checked_fields, unknown_name

LEARNERS = {
    "diayn": DIAYN,
    "dqn": DQN,
    "es": ES,
    "esac": ESAC,
    "feudal": FeUdal,
    "hdqn": HDQN,
    "hiro": HIRO,
    "intra_option_q": IntraOptionQ,
    "lstm_a2c": LSTMA2C,
    "maxq": MAXQ,
    "nsr_es": NSRES,
    "option_critic": OptionCritic,
    "option_critic_net": OptionCriticNet,
    "ppo": PPO,
    "ppo_episodic": EpisodicPPO,
    "qlearning": QLearning,
    "reinforce": Reinforce,
    "sac": SAC,
    "sarsa": SARSA,
    "smdp_q": SMDPQ,
    "td3": TD3,
    "trpo": TRPO,
    "trpo_episodic": EpisodicTRPO,
}


def make_learner(name: str, env, **config):
    """Build learner `name` (one of `LEARNERS`) for `env` with static `config`."""
    if name not in LEARNERS:
        raise unknown_name("learner", name, LEARNERS)
    cls = LEARNERS[name]
    return cls(env, **checked_fields(cls, config, "learner_config", skip=("env",)))
