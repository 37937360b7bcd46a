"""The option-critic Four Rooms transfer experiment's config and its checks
(every one runs when the experiment is built, before anything compiles).

Methods are tabular learners trained online on `envs.four_rooms_switch`:
option-critic (`option_critic`, `num_options` in its `learner_config`;
one option is the paper's primitive actor-critic AC-PG) and SARSA(0)
(`sarsa`). Hparams are each learner's own (`OptionCriticHParams` or
`TabularHParams`), on top of its defaults: the paper's values.
"""

import dataclasses

from jaxmeta.learners.base import check_hparams, hparams_with
from jaxmeta.learners.registry import LEARNERS as REGISTRY
from jaxmeta.run.config import dataclass_from_dict
from jaxmeta.run.method_groups import checked_method_tables
from jaxmeta.run.results import check_run_name
from jaxmeta.validation import coerce, unknown_name

LEARNERS = ("option_critic", "sarsa")
METHOD_FIELDS = ("name", "learner", "learner_config", "hparams")
HALLWAY_GOAL = (7, 9)  # the east hallway, where the paper's goal starts
NEW_GOALS = ("lower-right-room",)  # where it moves: a random cell of that room
# SARSA(0): the paper's gamma, the critic rate of option-critic and its
# epsilon over options (the paper's SARSA explores by Boltzmann, T = 0.001).
SARSA_HPARAMS = {"gamma": 0.99, "learning_rate": 0.5, "eps_start": 0.01,
                 "eps_end": 0.01}  # fmt: skip
DEFAULT_METHODS = (
    {"name": "option-critic", "learner": "option_critic",
     "learner_config": {"num_options": 4}},
    {"name": "ac-pg", "learner": "option_critic",
     "learner_config": {"num_options": 1}},
    {"name": "sarsa", "learner": "sarsa", "hparams": SARSA_HPARAMS},
)  # fmt: skip


def _positive_int(name, value):
    if coerce(name, value, int) <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


@dataclasses.dataclass(frozen=True)
class OptionCriticConfig:
    name: str = "option-critic"
    methods: tuple[dict, ...] = DEFAULT_METHODS
    trials: int = 30  # independent runs per method, vmapped
    episodes: int = 2000  # recorded per trial (the curves' length)
    switch_after: int = 1000  # the goal moves once this many episodes ended
    new_goal: str = "lower-right-room"
    env_steps: int = 500_000  # per trial
    chunks: int = 10
    num_steps: int = 1000  # env steps per learner update
    window: int = 20  # episodes in the plots' running mean
    max_steps_in_episode: int = 1000  # the authors' nsteps
    fail_prob: float = 1.0 / 3.0
    seed: int = 0

    KIND = "option-critic"

    def __post_init__(self):
        check_run_name(self.name)
        methods = checked_method_tables(
            self.methods, METHOD_FIELDS, LEARNERS,
            {"env", "num_envs", "num_steps", "record_episodes"},
            "one env a trial, num_steps is the experiment's, episodes are recorded",
        )  # fmt: skip
        for field in ("trials", "episodes", "switch_after", "env_steps", "chunks"):
            _positive_int(field, getattr(self, field))
        for field in ("num_steps", "window", "max_steps_in_episode"):
            _positive_int(field, getattr(self, field))
        if self.switch_after >= self.episodes:
            raise ValueError(
                f"switch_after ({self.switch_after}) must be below episodes "
                f"({self.episodes}), so the curves show the recovery"
            )
        if self.new_goal not in NEW_GOALS:
            raise unknown_name("new_goal", self.new_goal, NEW_GOALS)
        per_chunk = self.num_steps * self.chunks
        if self.env_steps % per_chunk:
            raise ValueError(
                f"env_steps ({self.env_steps}) must be a multiple of num_steps x "
                f"chunks = {per_chunk}, so every chunk is the same program"
            )
        if self.window > self.episodes:
            raise ValueError(
                f"window ({self.window}) must not exceed episodes ({self.episodes})"
            )
        fail = coerce("fail_prob", self.fail_prob, float)
        if not 0.0 <= fail < 1.0:
            raise ValueError(f"fail_prob must be in [0, 1), got {fail!r}")
        coerce("seed", self.seed, int)
        object.__setattr__(self, "methods", methods)
        object.__setattr__(self, "fail_prob", fail)

    def learner_of(self, method: dict, env):
        """The method's learner on `env` (its config checked) and its hparams
        (defaults, then the method's; checked against the learner's domains)."""
        where = f"methods[{[m['name'] for m in self.methods].index(method['name'])}]"
        cls = REGISTRY[method["learner"]]
        try:
            learner = cls(
                env, num_envs=1, num_steps=self.num_steps, record_episodes=True,
                **method["learner_config"],
            )  # fmt: skip
        except TypeError as error:
            raise ValueError(f"{where}.learner_config: {error}") from None
        hparams = hparams_with(
            learner.default_hparams(),
            **{k: coerce(f"{where}.hparams.{k}", v, float)
               for k, v in method["hparams"].items()},
        )  # fmt: skip
        check_hparams(learner, hparams, f"{where}.hparams")
        return learner, hparams

    @classmethod
    def from_dict(cls, values: dict):
        return dataclass_from_dict(cls, values, "option-critic config")

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["methods"] = [dict(m) for m in self.methods]
        return out
