"""The episodes-to-target experiment's config (`run/episodes.py`): one table
per env (what is tuned, the tuning budget, the final training and its
target), one per searcher, and `EpisodesConfig`. Every check runs here or
when the experiment is built, before anything compiles.

A target the env cannot reach is refused: CartPole pays 1 per step for at
most `max_steps_in_episode` steps (500 for v1), MountainCar -1 per step for
at least one step, so its returns are at most -1. Envs without a known bound
(LunarLander's shaping reward has none in closed form) take any finite
target.
"""

import dataclasses
import math

from jaxmeta.run.config import dataclass_from_dict
from jaxmeta.run.episodes_maml import check_maml_spec
from jaxmeta.run.results import check_run_name
from jaxmeta.validation import check_names, coerce

ENV_FIELDS = {
    "env": str,
    "env_config": dict,
    "target": float,
    "learner": str,
    "learner_config": dict,
    "final_learner_config": dict,
    "dims": dict,
    "return_bounds": list,
    "population_size": int,
    "rounds": int,
    "num_updates": int,
    "chunk_size": int,
    "eval_episodes": int,
    "eval_max_steps": int,
    "eval_deterministic": bool,
    "final_env_steps": int,
    "final_chunks": int,
    "final_eval_episodes": int,
    "window": int,
    "reference": dict,
    "maml": dict,
}
ENV_DEFAULTS = {
    "env_config": {},
    "learner_config": {},
    "final_learner_config": {},
    "population_size": 8,
    "rounds": 3,
    "chunk_size": 10,
    "eval_episodes": 16,
    "eval_max_steps": 1000,
    "eval_deterministic": False,  # trials evaluated as the policy samples
    "final_chunks": 10,
    "final_eval_episodes": 32,  # the greedy evaluation of issue 11
    "window": 100,  # episodes in the running mean
    "reference": {"learner": "reinforce"},
    "maml": {},  # no MAML-initialised row (run.episodes_maml)
}
POSITIVE = (
    "population_size", "rounds", "num_updates", "chunk_size", "eval_episodes",
    "eval_max_steps", "final_env_steps", "final_chunks", "final_eval_episodes",
    "window",
)  # fmt: skip
SEARCHER_FIELDS = {
    "label": str,
    "searcher": str,
    "searcher_config": dict,
    "calibrate_online": bool,
    "calibration_rounds": int,
}
REFERENCE_FIELDS = ("learner", "learner_config", "hparams")


def max_return(env_name: str, env_params) -> tuple[float, str] | None:
    """`(highest reachable return, why)` of an env, or None if not known."""
    if env_name.startswith("CartPole-v"):
        steps = int(env_params.max_steps_in_episode)
        return float(steps), f"reward 1 per step for at most {steps} steps"
    if env_name == "MountainCar-v0":
        return -1.0, "reward -1 per step and an episode lasts at least one step"
    return None


def check_target(env_name: str, env_params, target: float, where: str) -> None:
    """ValueError for a target the env's returns can never reach."""
    if not math.isfinite(target):
        raise ValueError(f"{where}.target must be finite, got {target!r}")
    bound = max_return(env_name, env_params)
    if bound is not None and target > bound[0]:
        raise ValueError(
            f"{where}.target = {target:g} cannot be reached on {env_name}: its "
            f"return is at most {bound[0]:g} ({bound[1]}); allowed: target <= "
            f"{bound[0]:g}"
        )


def check_env_spec(spec, where: str) -> dict:
    """Names, types and ranges of one env table (defaults filled in)."""
    if not isinstance(spec, dict):
        raise TypeError(f"{where} must be a table, got {spec!r}")
    check_names(f"{where} field", spec, tuple(ENV_FIELDS))
    for name in ("env", "target", "learner", "dims", "num_updates", "final_env_steps"):
        if name not in spec:
            raise ValueError(f"{where} needs {name}")
    spec = {**ENV_DEFAULTS, **spec}
    for name, kind in ENV_FIELDS.items():
        if name == "return_bounds" and spec.get(name) is None:
            spec.pop(name, None)
            continue
        spec[name] = coerce(f"{where}.{name}", spec[name], kind)
    for name in POSITIVE:
        if spec[name] < 1:
            raise ValueError(f"{where}.{name} must be >= 1, got {spec[name]!r}")
    if spec["reference"]:
        check_names(f"{where}.reference field", spec["reference"], REFERENCE_FIELDS)
        coerce(f"{where}.reference.learner", spec["reference"].get("learner"), str)
    spec["maml"] = check_maml_spec(spec["maml"], f"{where}.maml")
    return spec


def check_searcher_spec(spec, where: str) -> dict:
    """Names and types of one searcher table (a label, a searcher name)."""
    if not isinstance(spec, dict):
        raise TypeError(f"{where} must be a table, got {spec!r}")
    check_names(f"{where} field", spec, tuple(SEARCHER_FIELDS))
    for name in ("label", "searcher"):
        if name not in spec:
            raise ValueError(f"{where} needs {name}")
    out = {"searcher_config": {}, "calibrate_online": False, **spec}
    for name, kind in SEARCHER_FIELDS.items():
        if name in out:
            out[name] = coerce(f"{where}.{name}", out[name], kind)
    check_run_name(out["label"])
    return out


@dataclasses.dataclass(frozen=True)
class EpisodesConfig:
    """Envs x searchers x seeds: each seed of each searcher tunes on its env
    at the env's budget, then the config it found trains `final_env_steps`
    and its episodes to the target are counted; plus the env's tuned learner
    at its defaults, the `reference` learner (REINFORCE) at its defaults
    and, where an env table has a `maml` sub-table, the tuned learner at its
    defaults from MAML-meta-learned weights (`run.episodes_maml`).
    """

    name: str
    envs: tuple[dict, ...]
    searchers: tuple[dict, ...]
    seeds: int = 5
    seed: int = 0

    KIND = "episodes"

    def __post_init__(self):
        check_run_name(self.name)
        if not self.envs or not self.searchers:
            raise ValueError("envs and searchers must each hold at least one table")
        envs = tuple(check_env_spec(s, f"envs[{i}]") for i, s in enumerate(self.envs))
        searchers = tuple(
            check_searcher_spec(s, f"searchers[{i}]")
            for i, s in enumerate(self.searchers)
        )
        for kind, names in (
            ("env", [s["env"] for s in envs]),
            ("searcher label", [s["label"] for s in searchers]),
        ):
            if len(set(names)) != len(names):
                raise ValueError(f"{kind}s must be distinct, got {names}")
        if any(s["label"] in ("defaults", "reference", "maml") for s in searchers):
            raise ValueError(
                "searcher labels 'defaults', 'reference' and 'maml' are taken"
            )
        object.__setattr__(self, "envs", envs)
        object.__setattr__(self, "searchers", searchers)
        if coerce("seeds", self.seeds, int) < 1:
            raise ValueError(f"seeds must be >= 1, got {self.seeds!r}")
        coerce("seed", self.seed, int)

    @classmethod
    def from_dict(cls, values: dict):
        return dataclass_from_dict(
            cls, values, "episodes config", required=("name", "envs", "searchers")
        )

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["envs"], out["searchers"] = list(self.envs), list(self.searchers)
        return out
