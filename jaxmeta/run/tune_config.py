"""`TuneConfig`: what a tuning run searches, trains and scores, on the
`PopulationConfig` fields every population experiment shares.

Every field is a plain value, so a config round-trips through a TOML file, the
command line (`--set field=value`) and the run's config.json. `FIELD_HELP`
documents each field for `jaxmeta tune --help`. Cheap checks (types, ranges,
divisibility, the run name) run on construction; names that need a registry
(env, learner, searcher, hparams) are checked by `TuneExperiment`, still
before anything compiles.
"""

import dataclasses
import math
from typing import Any

from jaxmeta.run.config import dataclass_from_dict, dim_from_table, dim_to_table
from jaxmeta.run.results import check_run_name
from jaxmeta.validation import coerce

FIELD_HELP = {
    "name": "run name; results go to OUT/NAME-N (letters, digits, '.', '_', '-')",
    "env": "environment name (`jaxmeta list` shows them)",
    "env_config": "options for the env factory, a table (e.g. {continuous = true})",
    "learner": "learner name (`jaxmeta list`): ppo, reinforce",
    "learner_config": "the learner's static config, a table (num_envs, num_steps, "
    "hidden, ...)",
    "dims": "search space: hparam -> {kind = log_uniform|uniform|logit, low, high}",
    "searcher": "searcher name (`jaxmeta list`): random, grid, evosax, bayes, "
    "sam-hrl-hs, or "
    "multi-fidelity successive-halving, hyperband (docs/multi_fidelity.md)",
    "searcher_config": "the searcher's options, a table (e.g. {strategy = "
    '"CMA_ES"} for evosax, {points_per_dim = 4} for grid)',
    "population_size": "configs trained at once per round (one vmapped program)",
    "rounds": "rounds of ask -> train -> evaluate -> tell",
    "num_updates": "learner updates per member per round",
    "chunk_size": "updates per compiled chunk (must divide num_updates); results, "
    "progress and checkpoints happen between chunks",
    "eval_episodes": "evaluation episodes per member after training",
    "eval_max_steps": "step cap of an evaluation episode",
    "eval_deterministic": "evaluate with the policy's mode instead of sampling",
    "return_bounds": "[low, high] of the return for the HyperScore; omit to "
    "normalise over every member evaluated so far",
    "seed": "root random seed (same seed, same numbers)",
    "calibrate_online": "refit the HyperScore's beta, gamma, kappa by GP-BO every "
    "round on (early training return, final evaluation return) pairs and tell "
    "the searcher calibrated scores (false: the fixed default shape)",
    "calibration_rounds": "calibrate_online: GP-BO rounds (of 4 shapes) per "
    "refit, >= 3",
    "quantile": "PBT: fraction of members in the bottom group that copy the top "
    "group every chunk, in (0, 0.5]",
    "resample_probability": "PBT: chance that an explored hparam is drawn anew "
    "instead of perturbed",
    "perturb_factors": "PBT: factors an explored hparam is multiplied by (one "
    "drawn per hparam)",
}


@dataclasses.dataclass(frozen=True)
class PopulationConfig:
    """Fields every population experiment shares (tuning, PBT, ...): what
    trains (env, learner, their configs), the searched hparams `dims`
    (objects or `{kind, low, high}` tables), the population, its chunking,
    evaluation and seed. Subclasses add their own fields and `KIND`."""

    name: str
    env: str
    learner: str
    dims: dict
    env_config: dict = dataclasses.field(default_factory=dict)
    learner_config: dict = dataclasses.field(default_factory=dict)
    population_size: int = 32
    num_updates: int = 50
    chunk_size: int = 10
    eval_episodes: int = 32
    eval_max_steps: int = 500
    eval_deterministic: bool = False
    seed: int = 0

    COUNTS = ("population_size", "num_updates", "chunk_size", "eval_episodes",
              "eval_max_steps")  # fmt: skip
    KIND = "population"

    def __post_init__(self):
        check_run_name(self.name)
        for name in ("env", "learner"):
            coerce(name, getattr(self, name), str)
        for name in ("env_config", "learner_config", "dims"):
            if not isinstance(getattr(self, name), dict):
                raise TypeError(
                    f"{name} must be a table of fields, got {getattr(self, name)!r}"
                )
        if not self.dims:
            raise ValueError("dims must name at least one hparam to search")
        dims = {name: dim_from_table(name, d) for name, d in self.dims.items()}
        object.__setattr__(self, "dims", dims)
        for name in self.COUNTS:
            value = coerce(name, getattr(self, name), int)
            if value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.num_updates % self.chunk_size:
            divisors = [
                d for d in range(1, self.num_updates + 1) if self.num_updates % d == 0
            ]
            raise ValueError(
                f"chunk_size ({self.chunk_size}) must divide num_updates "
                f"({self.num_updates}); allowed values: "
                f"{', '.join(map(str, divisors[:16]))}"
            )
        coerce("eval_deterministic", self.eval_deterministic, bool)
        coerce("seed", self.seed, int)

    @property
    def chunks_per_round(self) -> int:
        return self.num_updates // self.chunk_size

    @classmethod
    def from_dict(cls, values: dict):
        """From a TOML table / override dict (checked field by field)."""
        return dataclass_from_dict(
            cls,
            values,
            f"{cls.KIND} config",
            required=("name", "env", "learner", "dims"),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain values (dims as tables): `from_dict(to_dict())` is equal."""
        out = dataclasses.asdict(self)
        out["dims"] = {name: dim_to_table(d) for name, d in self.dims.items()}
        return out


@dataclasses.dataclass(frozen=True)
class TuneConfig(PopulationConfig):
    """What to tune and how (see `FIELD_HELP`)."""

    searcher: str = "evosax"
    searcher_config: dict = dataclasses.field(default_factory=dict)
    rounds: int = 2
    return_bounds: tuple[float, float] | None = None
    calibrate_online: bool = False
    calibration_rounds: int = 12

    COUNTS = (*PopulationConfig.COUNTS, "rounds")
    KIND = "tune"

    def __post_init__(self):
        super().__post_init__()
        coerce("searcher", self.searcher, str)
        if not isinstance(self.searcher_config, dict):
            raise TypeError(
                f"searcher_config must be a table of fields, "
                f"got {self.searcher_config!r}"
            )
        object.__setattr__(self, "return_bounds", _bounds(self.return_bounds))
        coerce("calibrate_online", self.calibrate_online, bool)
        rounds = coerce("calibration_rounds", self.calibration_rounds, int)
        if rounds < 3:
            raise ValueError(
                f"calibration_rounds must be an int >= 3 (the first two rounds "
                f"are a Latin-hypercube design), got {rounds!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if self.return_bounds is not None:
            out["return_bounds"] = list(self.return_bounds)
        else:
            out.pop("return_bounds")
        return out


def _bounds(value):
    if value is None:
        return None
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise TypeError(f"return_bounds must be [low, high] or omitted, got {value!r}")
    low, high = (coerce(f"return_bounds[{i}]", v, float) for i, v in enumerate(value))
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"return_bounds must be finite, got {value!r}")
    if not low < high:
        raise ValueError(
            f"return_bounds must have low < high (allowed: [low, high] with "
            f"low < high), got {value!r}"
        )
    return (low, high)


def help_text(config_class=None) -> str:
    """Every field of `config_class` (default TuneConfig) with its default
    and meaning, for --help."""
    lines = ["config fields (TOML keys; --set FIELD=VALUE overrides):"]
    for field in dataclasses.fields(config_class or TuneConfig):
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            default = "required"
        lines.append(f"  {field.name} (default: {default}): {FIELD_HELP[field.name]}")
    return "\n".join(lines)
