"""Name -> learner class, so tests and the CLI can iterate over every learner."""

from jaxmeta.learners.dqn import DQN
from jaxmeta.learners.es import ES
from jaxmeta.learners.esac import ESAC
from jaxmeta.learners.hierarchical.maxq import MAXQ
from jaxmeta.learners.hierarchical.options import SMDPQ, IntraOptionQ
from jaxmeta.learners.nsr_es import NSRES
from jaxmeta.learners.ppo import PPO
from jaxmeta.learners.ppo_episodic import EpisodicPPO
from jaxmeta.learners.qlearning import SARSA, QLearning
from jaxmeta.learners.reinforce import Reinforce
from jaxmeta.learners.sac import SAC
from jaxmeta.learners.trpo import TRPO
from jaxmeta.learners.trpo_episodic import EpisodicTRPO
from jaxmeta.validation import checked_fields, unknown_name

LEARNERS = {
    "dqn": DQN,
    "es": ES,
    "esac": ESAC,
    "intra_option_q": IntraOptionQ,
    "maxq": MAXQ,
    "nsr_es": NSRES,
    "ppo": PPO,
    "ppo_episodic": EpisodicPPO,
    "qlearning": QLearning,
    "reinforce": Reinforce,
    "sac": SAC,
    "sarsa": SARSA,
    "smdp_q": SMDPQ,
    "trpo": TRPO,
    "trpo_episodic": EpisodicTRPO,
}


def make_learner(name: str, env, **config):
    """Build learner `name` (one of `LEARNERS`) for `env` with static `config`."""
    if name not in LEARNERS:
        raise unknown_name("learner", name, LEARNERS)
    cls = LEARNERS[name]
    return cls(env, **checked_fields(cls, config, "learner_config", skip=("env",)))
