"""The RL^2 experiment's config (`run/rl2.py`): one table per setting (a
bandit or random-MDP task distribution, n episodes per trial, RL^2's
training budget, network and numbers) and `RL2Config` (evaluation sizes and
the baselines' hyperparameter grids). Every check runs here or when the
experiment is built, before anything compiles."""

import dataclasses
import itertools

from jaxmeta.run.config import dataclass_from_dict
from jaxmeta.run.results import check_run_name
from jaxmeta.validation import NONNEGATIVE, Domain, check_names, coerce, unknown_name

PROBLEMS = ("bandit", "mdp")
SETTING_FIELDS = {
    "label": str,
    "problem": str,
    "episodes": int,
    "arms": int,
    "states": int,
    "actions": int,
    "horizon": int,
    "updates": int,
    "chunks": int,
    "seeds": int,
    "learner": dict,
    "hparams": dict,
}
SETTING_DEFAULTS = {
    "arms": 5,
    "states": 10,
    "actions": 5,
    "horizon": 10,
    "chunks": 4,
    "seeds": 1,
    "learner": {},
    "hparams": {},
}
POSITIVE = ("episodes", "arms", "states", "actions", "horizon", "updates", "chunks")


def check_setting(spec, where: str) -> dict:
    """Names, types and ranges of one setting table (defaults filled in)."""
    if not isinstance(spec, dict):
        raise TypeError(f"{where} must be a table, got {spec!r}")
    check_names(f"{where} field", spec, tuple(SETTING_FIELDS))
    for name in ("label", "problem", "episodes", "updates"):
        if name not in spec:
            raise ValueError(f"{where} needs {name}")
    spec = {**SETTING_DEFAULTS, **spec}
    for name, kind in SETTING_FIELDS.items():
        spec[name] = coerce(f"{where}.{name}", spec[name], kind)
    check_run_name(spec["label"])
    if spec["problem"] not in PROBLEMS:
        raise unknown_name(
            f"{where}.problem (a task distribution RL^2 and its baselines run on)",
            spec["problem"],
            PROBLEMS,
        )
    for name in POSITIVE:
        if spec[name] < 1:
            raise ValueError(f"{where}.{name} must be >= 1, got {spec[name]!r}")
    if spec["problem"] == "bandit" and spec["arms"] < 2:
        raise ValueError(f"{where}.arms must be >= 2, got {spec['arms']!r}")
    if spec["seeds"] < 1:
        raise ValueError(f"{where}.seeds must be >= 1, got {spec['seeds']!r}")
    if spec["updates"] % spec["chunks"]:
        raise ValueError(
            f"{where}.chunks ({spec['chunks']}) must divide updates "
            f"({spec['updates']}): every chunk trains the same number of updates"
        )
    return spec


def _grid(name: str, values, domain: Domain) -> tuple[float, ...]:
    """A non-empty tuple of numbers in `domain`; ValueError naming `name`."""
    values = coerce(name, values, tuple[float, ...])
    if not values:
        raise ValueError(f"{name} must hold at least one value")
    for v in values:
        if not domain.contains(v):
            raise ValueError(
                f"{name} values must lie in {domain.describe()}, got {v!r}"
            )
    return values


GRIDS = {
    "epsilons": Domain(0.0, 1.0),
    "ucb_scales": NONNEGATIVE,
    "gittins_discounts": Domain(0.0, 1.0, open_minimum=True, open_maximum=True),
    "q_learning_rates": Domain(0.0, 1.0, open_minimum=True),
    "q_epsilons": Domain(0.0, 1.0),
}


@dataclasses.dataclass(frozen=True)
class RL2Config:
    """Settings x (RL^2, baselines). Each setting trains RL^2 for `updates`
    updates (its `seeds` runs vmapped), then evaluates it and every baseline
    on the same `eval_tasks` tasks drawn from the setting's distribution;
    baselines with a hyperparameter pick it on `tune_tasks` other tasks
    (grids below; the paper grid-searches each setting too)."""

    name: str
    settings: tuple[dict, ...]
    eval_tasks: int = 1000
    tune_tasks: int = 200
    epsilons: tuple[float, ...] = (0.01, 0.05, 0.1, 0.2)
    ucb_scales: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
    gittins_discounts: tuple[float, ...] = (0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995)
    q_learning_rates: tuple[float, ...] = (0.1, 0.3, 0.5)
    q_epsilons: tuple[float, ...] = (0.01, 0.05, 0.1)
    seed: int = 0

    KIND = "rl2"

    def __post_init__(self):
        check_run_name(self.name)
        if not self.settings:
            raise ValueError("settings must hold at least one setting table")
        specs = tuple(
            check_setting(s, f"settings[{i}]") for i, s in enumerate(self.settings)
        )
        labels = [s["label"] for s in specs]
        if len(set(labels)) != len(labels):
            raise ValueError(f"setting labels must be distinct, got {labels}")
        object.__setattr__(self, "settings", specs)
        for name in ("eval_tasks", "tune_tasks"):
            if coerce(name, getattr(self, name), int) < 2:
                raise ValueError(f"{name} must be >= 2, got {getattr(self, name)!r}")
        for name, domain in GRIDS.items():
            object.__setattr__(self, name, _grid(name, getattr(self, name), domain))
        coerce("seed", self.seed, int)

    @classmethod
    def from_dict(cls, values: dict):
        return dataclass_from_dict(
            cls, values, "rl2 config", required=("name", "settings")
        )

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["settings"] = list(self.settings)
        for name, value in out.items():
            if isinstance(value, tuple):
                out[name] = list(value)
        return out


def grid_labels(config: RL2Config, problem: str) -> dict:
    """Baseline name -> the labels of its grid values (table order)."""
    one = [""]
    eps = [f"epsilon={e:g}" for e in config.epsilons]
    if problem == "bandit":
        return {
            "random": one,
            "greedy": one,
            "epsilon-greedy": eps,
            "ucb1": [f"c={c:g}" for c in config.ucb_scales],
            "thompson": one,
            "gittins": [f"discount={g:g}" for g in config.gittins_discounts],
        }
    pairs = itertools.product(config.q_learning_rates, config.q_epsilons)
    return {
        "random": one,
        "greedy": one,
        "epsilon-greedy": eps,
        "q-learning": [f"alpha={a:g}, epsilon={e:g}" for a, e in pairs],
        "psrl": one,
    }
