"""The Four Rooms options experiment's config, its checks, and the exact
optimum it is measured against.

`OptionsConfig` names the goals (open cells of `envs.four_rooms`), the
methods (a tabular learner and its option set) and the sizes; every check
runs when the experiment is built, before anything compiles. The optimal
expected steps to the goal from each start cell, under the env's noisy
moves, come from value iteration on the known model (`optimal_steps`), for
primitive actions and for each method's option set.
"""

import dataclasses

import numpy as np

from jaxmeta.learners.common.tabular import HPARAM_DOMAINS, TabularHParams
from jaxmeta.learners.hierarchical.option_sets import (
    OPTION_SETS,
    option_set,
    option_value_iteration,
)
from jaxmeta.run.config import dataclass_from_dict
from jaxmeta.run.results import check_run_name
from jaxmeta.validation import check_in_domains, check_names, coerce, unknown_name

HALLWAY_GOAL = (7, 9)  # the east hallway, `envs.four_rooms.DEFAULT_GOAL`
ROOM_GOAL = (10, 10)  # inside the bottom-right room, off the hallway paths
LEARNERS = ("qlearning", "sarsa", "smdp_q", "intra_option_q")
OPTION_LEARNERS = ("smdp_q", "intra_option_q")
METHOD_FIELDS = ("name", "learner", "options", "hparams")
DEFAULT_METHODS = (
    {"name": "flat-q", "learner": "qlearning"},
    {"name": "smdp-hallways", "learner": "smdp_q", "options": "hallways"},
    {"name": "smdp-hallways+primitive", "learner": "smdp_q",
     "options": "hallways+primitive"},
    {"name": "intra-hallways", "learner": "intra_option_q", "options": "hallways"},
    {"name": "intra-hallways+primitive", "learner": "intra_option_q",
     "options": "hallways+primitive"},
)  # fmt: skip
# Shared by every method unless its own "hparams" say otherwise: the rooms
# example's discount, epsilon 0.1 falling to 0.01 over 200 episodes.
DEFAULT_HPARAMS = {
    "gamma": 0.9,
    "eps_start": 0.1,
    "eps_end": 0.01,
    "eps_decay_episodes": 200.0,
}


def _positive_int(name, value):
    if coerce(name, value, int) <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_hparams(where: str, values) -> dict:
    if not isinstance(values, dict):
        raise TypeError(f"{where} must be a table of hyperparameters, got {values!r}")
    names = [f.name for f in dataclasses.fields(TabularHParams)]
    check_names(f"{where} field", values, names)
    values = {k: coerce(f"{where}.{k}", v, float) for k, v in values.items()}
    check_in_domains(where, values, HPARAM_DOMAINS)
    return values


def _check_method(spec, where: str) -> dict:
    if not isinstance(spec, dict):
        raise TypeError(f"{where} must be a table, got {spec!r}")
    check_names(f"{where} field", spec, METHOD_FIELDS)
    if "name" not in spec or "learner" not in spec:
        raise ValueError(f"{where} needs a name and a learner")
    if spec["learner"] not in LEARNERS:
        raise unknown_name(f"{where}.learner", spec["learner"], LEARNERS)
    options = spec.get("options")
    if spec["learner"] in OPTION_LEARNERS:
        if options not in OPTION_SETS:
            raise unknown_name(f"{where}.options", options, OPTION_SETS)
    elif options is not None:
        raise ValueError(
            f"{where}: options apply to {', '.join(OPTION_LEARNERS)}, not to "
            f"{spec['learner']}"
        )
    hparams = _check_hparams(f"{where}.hparams", spec.get("hparams", {}))
    return {**spec, "hparams": hparams}


@dataclasses.dataclass(frozen=True)
class OptionsConfig:
    name: str = "options"
    goals: tuple[tuple[int, int], ...] = (HALLWAY_GOAL, ROOM_GOAL)
    methods: tuple[dict, ...] = DEFAULT_METHODS
    baseline: str = "flat-q"  # the method speed-ups are measured against
    trials: int = 30  # independent runs per method, goal and learning rate
    episodes: int = 1000  # recorded per trial (the curves' length)
    env_steps: int = 80_000  # per trial
    chunks: int = 8
    num_steps: int = 500  # env steps per learner update
    learning_rates: tuple[float, ...] = (0.25, 0.5)  # each method's best is kept
    hparams: dict = dataclasses.field(default_factory=lambda: dict(DEFAULT_HPARAMS))
    window: int = 20  # episodes in the running mean
    tolerance: float = 0.1  # within 10 % of the optimal mean steps
    max_steps_in_episode: int = 10_000
    fail_prob: float = 1.0 / 3.0
    seed: int = 0

    KIND = "options"

    def __post_init__(self):
        check_run_name(self.name)
        goals = coerce("goals", self.goals, tuple[tuple[int, ...], ...])
        if any(len(g) != 2 for g in goals):
            raise ValueError(f"goals must be (row, col) pairs, got {goals}")
        if not goals or len(set(goals)) != len(goals):
            raise ValueError(f"goals must be distinct (row, col) cells, got {goals}")
        methods = tuple(
            _check_method(m, f"methods[{i}]") for i, m in enumerate(self.methods)
        )
        names = [m["name"] for m in methods]
        if not methods or len(set(names)) != len(names):
            raise ValueError(f"method names must be distinct and given, got {names}")
        if self.baseline not in names:
            raise unknown_name("baseline method", self.baseline, names)
        for name in ("trials", "episodes", "env_steps", "chunks", "num_steps"):
            _positive_int(name, getattr(self, name))
        _positive_int("window", self.window)
        _positive_int("max_steps_in_episode", self.max_steps_in_episode)
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
        rates = coerce("learning_rates", self.learning_rates, tuple[float, ...])
        if not rates:
            raise ValueError("learning_rates must name at least one rate")
        check_in_domains(
            "learning_rates", {"learning_rate": list(rates)}, HPARAM_DOMAINS
        )
        tolerance = coerce("tolerance", self.tolerance, float)
        if not tolerance > 0:
            raise ValueError(f"tolerance must be > 0, got {tolerance!r}")
        fail = coerce("fail_prob", self.fail_prob, float)
        if not 0.0 <= fail < 1.0:
            raise ValueError(f"fail_prob must be in [0, 1), got {fail!r}")
        hparams = _check_hparams("hparams", self.hparams)
        coerce("seed", self.seed, int)
        for field, value in (
            ("goals", goals), ("methods", methods), ("learning_rates", rates),
            ("hparams", hparams), ("tolerance", tolerance), ("fail_prob", fail),
        ):  # fmt: skip
            object.__setattr__(self, field, value)

    def hparams_of(self, method: dict) -> dict:
        """The method's hparams: the shared ones with its own on top."""
        return {**self.hparams, **method["hparams"]}

    @classmethod
    def from_dict(cls, values: dict):
        return dataclass_from_dict(cls, values, "options config")

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["goals"] = [list(g) for g in self.goals]
        out["methods"] = [dict(m) for m in self.methods]
        out["learning_rates"] = list(self.learning_rates)
        return out


def four_rooms_model(goal_cell: int, fail_prob: float):
    """`(transition [S, 4, S], steps [S, 4], terminal [S])` of Four Rooms:
    the intended move w.p. 1 - fail_prob, each other w.p. fail_prob / 3 (a
    wall: stay), the goal terminal; `steps` is -1 per step (a reward whose
    optimal values are minus the expected steps to the goal)."""
    from jaxmeta.envs.four_rooms import NEXT_CELL, NUM_CELLS

    cells = np.arange(NUM_CELLS)
    transition = np.zeros((NUM_CELLS, 4, NUM_CELLS))
    for action in range(4):
        for direction in range(4):
            p = 1.0 - fail_prob if direction == action else fail_prob / 3.0
            np.add.at(transition, (cells, action, NEXT_CELL[:, direction]), p)
    terminal = cells == goal_cell
    return transition, -np.ones((NUM_CELLS, 4)), terminal


def optimal_steps(goal_cell: int, fail_prob: float, options="primitive"):
    """Minimal expected steps to the goal from every cell, [S] float64 (0 at
    the goal), choosing among `options` (a built-in set's name) wherever
    one may start: exact value iteration (undiscounted, -1 per step)."""
    from jaxmeta.envs.four_rooms import NUM_CELLS

    chosen = option_set(options, NUM_CELLS, 4)
    transition, steps, terminal = four_rooms_model(goal_cell, fail_prob)
    q = option_value_iteration(transition, steps, terminal, chosen, 1.0, tol=1e-9)
    best = np.max(np.where(chosen.initiation.T, q, -np.inf), axis=1)
    return np.where(terminal, 0.0, -best)
