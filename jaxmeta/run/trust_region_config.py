"""The trust-region experiment's config: one table per env (its fields,
defaults and checks, all before anything compiles) and `TrustRegionConfig`.
See `run/trust_region.py` for what the fields drive."""

import dataclasses

from jaxmeta.control.fqi import FQIController, check_grid
from jaxmeta.envs.minigolf import MinigolfTasks
from jaxmeta.envs.tasks import CartPoleTasks
from jaxmeta.run.config import dataclass_from_dict
from jaxmeta.run.results import check_run_name
from jaxmeta.run.trust_region_beyond import check_beyond
from jaxmeta.validation import check_names, coerce

# env name -> task distribution factory (base params -> distribution)
TASKS = {
    "Minigolf-v0": lambda base: MinigolfTasks(base_params=base),
    "CartPoleContinuous-v1": lambda base: CartPoleTasks(base_params=base),
}
ENV_FIELDS = {
    "label": str,
    "env": str,
    "env_config": dict,
    "tasks": bool,
    "num_envs": int,
    "num_steps": int,
    "train_archs": list,
    "test_archs": list,
    "critic_hidden": list,
    "dataset_runs": int,
    "train_updates": int,
    "test_updates": int,
    "eval_runs": int,
    "validation_runs": int,
    "kl_range": list,
    "fixed_kl": list,
    "meta_grid": list,
    "fqi_candidates": list,
    "metafeature_points": int,
    "num_trees": int,
    "beyond": dict,
}
DEFAULTS = {
    "env_config": {},
    "tasks": True,
    "test_archs": [],
    "critic_hidden": [32],
    "validation_runs": 8,
    "kl_range": [0.001, 0.3],
    "fixed_kl": [0.001, 0.003, 0.01, 0.03, 0.1, 0.3],
    "meta_grid": [0.001, 0.003, 0.01, 0.03, 0.1, 0.3],
    "fqi_candidates": [[1, 5e-5], [1, 1e-3], [3, 1e-3], [3, 1e-2]],
    "metafeature_points": 256,
    "num_trees": 50,
    "beyond": {},
}
POSITIVE_INTS = (
    "num_envs",
    "num_steps",
    "dataset_runs",
    "train_updates",
    "test_updates",
    "eval_runs",
    "validation_runs",
    "metafeature_points",
    "num_trees",
)


def check_env_spec(spec, where: str) -> dict:
    """Names, types and ranges of one env's table (defaults filled in)."""
    if not isinstance(spec, dict):
        raise TypeError(f"{where} must be a table, got {spec!r}")
    check_names(f"{where} field", spec, tuple(ENV_FIELDS))
    for name in ("label", "env", "num_envs", "num_steps", "train_archs"):
        if name not in spec:
            raise ValueError(f"{where} needs {name}")
    spec = {**DEFAULTS, **spec}
    for name, kind in ENV_FIELDS.items():
        coerce(f"{where}.{name}", spec[name], kind)
    for name in POSITIVE_INTS:
        if spec[name] < 1:
            raise ValueError(f"{where}.{name} must be >= 1, got {spec[name]!r}")
    low, high = (float(v) for v in spec["kl_range"])
    if not 0 < low < high:
        raise ValueError(
            f"{where}.kl_range must be [low, high] with 0 < low < high (a KL "
            f"bound lambda > 0), got {spec['kl_range']!r}"
        )
    check_grid(spec["fixed_kl"])
    check_grid(spec["meta_grid"])
    if not spec["train_archs"]:
        raise ValueError(f"{where}.train_archs must name at least one architecture")
    if not spec["fqi_candidates"]:
        raise ValueError(f"{where}.fqi_candidates must hold at least one [H, psi]")
    for candidate in spec["fqi_candidates"]:
        if len(candidate) != 2:
            raise ValueError(f"{where}.fqi_candidates entries are [H, psi]")
        FQIController(horizon=int(candidate[0]), min_split=float(candidate[1]))
    spec["beyond"] = check_beyond(spec["beyond"], spec, f"{where}.beyond")
    return spec


@dataclasses.dataclass(frozen=True)
class TrustRegionConfig:
    name: str
    envs: tuple[dict, ...]
    seed: int = 0

    KIND = "trust-region"

    def __post_init__(self):
        check_run_name(self.name)
        if not self.envs:
            raise ValueError("envs must hold at least one env table")
        specs = tuple(check_env_spec(s, f"envs[{i}]") for i, s in enumerate(self.envs))
        labels = [s["label"] for s in specs]
        if len(set(labels)) != len(labels):
            raise ValueError(f"env labels must be distinct, got {labels}")
        object.__setattr__(self, "envs", specs)
        coerce("seed", self.seed, int)

    @classmethod
    def from_dict(cls, values: dict):
        return dataclass_from_dict(
            cls, values, "trust-region config", required=("name", "envs")
        )

    def to_dict(self) -> dict:
        return {"name": self.name, "envs": list(self.envs), "seed": self.seed}


def arch_name(hidden) -> str:
    """MLP(h, n) as the seed writes it; MLP(0, 0) = linear."""
    hidden = tuple(hidden)
    return f"MLP({len(hidden)}, {hidden[0] if hidden else 0})"
