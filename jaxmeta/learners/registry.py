"""Name -> learner class, so tests and the CLI can iterate over every learner."""

from jaxmeta.learners.ppo import PPO
from jaxmeta.learners.reinforce import Reinforce
from jaxmeta.learners.trpo import TRPO
from jaxmeta.validation import checked_fields, unknown_name

LEARNERS = {"ppo": PPO, "reinforce": Reinforce, "trpo": TRPO}


def make_learner(name: str, env, **config):
    """Build learner `name` (one of `LEARNERS`) for `env` with static `config`."""
    if name not in LEARNERS:
        raise unknown_name("learner", name, LEARNERS)
    cls = LEARNERS[name]
    return cls(env, **checked_fields(cls, config, "learner_config", skip=("env",)))
