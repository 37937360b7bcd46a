"""Name -> learner class, so tests and the CLI can iterate over every learner."""

from jaxmeta.learners.ppo import PPO
from jaxmeta.learners.reinforce import Reinforce

LEARNERS = {"ppo": PPO, "reinforce": Reinforce}


def make_learner(name: str, env, **config):
    """Build learner `name` (one of `LEARNERS`) for `env` with static `config`."""
    if name not in LEARNERS:
        raise ValueError(
            f"unknown learner {name!r}; allowed values: {', '.join(sorted(LEARNERS))}"
        )
    return LEARNERS[name](env, **config)
