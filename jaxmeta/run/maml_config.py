"""The MAML experiment's config (`run/maml.py`): settings (an env with its
options and task distribution, the adapters' static options and hparams, the
meta-training budget, held-out tasks and adaptation steps) and the methods
compared on every setting. Every check runs here or when the experiment is
built, before anything compiles."""

import dataclasses

from jaxmeta.adapt.registry import registered_names
from jaxmeta.run.config import dataclass_from_dict
from jaxmeta.run.results import check_run_name
from jaxmeta.validation import check_names, coerce, unknown_name

# Methods that are not adapters: the multi-task policy trained by plain
# policy gradient on the same tasks (the MAML paper's "pretrained"), and the
# untrained initialisation; both are adapted by the same inner steps.
BASELINES = ("pretrained", "random")
ADAPTERS = ("maml", "fomaml", "directed-maml", "directed-fomaml")
DEFAULT_METHODS = ("maml", "fomaml", "directed-maml", "pretrained", "random")
SETTING_FIELDS = {
    "label": str,
    "env": str,
    "env_options": dict,
    "tasks": dict,
    "adapter": dict,
    "hparams": dict,
    "meta_iterations": int,
    "eval_tasks": int,
    "adapt_steps": int,
    "methods": tuple[str, ...] | None,
}
SETTING_DEFAULTS = {
    "env_options": {},
    "tasks": {},
    "adapter": {},
    "hparams": {},
    "eval_tasks": 40,
    "adapt_steps": 3,
    "methods": None,
}
# Set by the experiment itself, not by a setting's adapter table.
FIXED_ADAPTER_FIELDS = ("env", "tasks", "learner")


def method_names() -> tuple[str, ...]:
    """Every name a `methods` entry may take."""
    return tuple(sorted(set(registered_names()) & set(ADAPTERS))) + BASELINES


def check_methods(methods, where: str) -> tuple[str, ...]:
    """A non-empty tuple of distinct known method names."""
    methods = coerce(where, methods, tuple[str, ...])
    if not methods:
        raise ValueError(f"{where} must name at least one method")
    check_names(f"{where} entry (method)", methods, method_names())
    if len(set(methods)) != len(methods):
        raise ValueError(f"{where} must be distinct, got {list(methods)}")
    return methods


def check_setting(spec, where: str, methods: tuple[str, ...]) -> dict:
    """Names, types and ranges of one setting table (defaults filled in)."""
    from jaxmeta.envs import registered_names as env_names
    from jaxmeta.envs.tasks import TASK_DISTRIBUTIONS

    if not isinstance(spec, dict):
        raise TypeError(f"{where} must be a table, got {spec!r}")
    check_names(f"{where} field", spec, tuple(SETTING_FIELDS))
    for name in ("label", "env", "meta_iterations"):
        if name not in spec:
            raise ValueError(f"{where} needs {name}")
    spec = {**SETTING_DEFAULTS, **spec}
    for name, kind in SETTING_FIELDS.items():
        spec[name] = coerce(f"{where}.{name}", spec[name], kind)
    check_run_name(spec["label"])
    if spec["env"] not in env_names():
        raise unknown_name(f"{where}.env", spec["env"], env_names())
    if spec["env"] not in TASK_DISTRIBUTIONS:
        raise ValueError(
            f"{where}.env {spec['env']!r} has no task distribution to meta-learn "
            f"over; allowed values: {', '.join(sorted(TASK_DISTRIBUTIONS))}"
        )
    fixed = sorted(set(FIXED_ADAPTER_FIELDS) & set(spec["adapter"]))
    if fixed:
        raise ValueError(
            f"{where}.adapter may not set {fixed}: the env and its tasks are "
            f"the setting's (env, env_options, tasks), the inner step is built in"
        )
    for name in ("meta_iterations", "eval_tasks"):
        if spec[name] < 1:
            raise ValueError(f"{where}.{name} must be >= 1, got {spec[name]!r}")
    if spec["adapt_steps"] < 0:
        raise ValueError(
            f"{where}.adapt_steps must be >= 0 (the returns after 0..K inner "
            f"steps are measured), got {spec['adapt_steps']!r}"
        )
    spec["methods"] = check_methods(
        methods if spec["methods"] is None else spec["methods"], f"{where}.methods"
    )
    return spec


@dataclasses.dataclass(frozen=True)
class MAMLConfig:
    """Settings x methods, `seeds` meta-learners each (vmapped). Each
    setting meta-trains for its `meta_iterations` in `chunks` chunks, then
    every method is adapted on the same `eval_tasks` held-out tasks for
    0..`adapt_steps` inner steps. Convergence: the first meta-iteration whose
    running mean over `convergence_window` iterations of the post-adaptation
    return covers `convergence_fraction` of the way from its first to its
    final window's value."""

    name: str
    settings: tuple[dict, ...]
    methods: tuple[str, ...] = DEFAULT_METHODS
    seeds: int = 5
    chunks: int = 4
    convergence_fraction: float = 0.9
    convergence_window: int = 5
    seed: int = 0

    KIND = "maml"

    def __post_init__(self):
        check_run_name(self.name)
        methods = check_methods(self.methods, "methods")
        object.__setattr__(self, "methods", methods)
        if not self.settings:
            raise ValueError("settings must hold at least one setting table")
        specs = tuple(
            check_setting(s, f"settings[{i}]", methods)
            for i, s in enumerate(self.settings)
        )
        labels = [s["label"] for s in specs]
        if len(set(labels)) != len(labels):
            raise ValueError(f"setting labels must be distinct, got {labels}")
        object.__setattr__(self, "settings", specs)
        for name in ("seeds", "chunks", "convergence_window"):
            if coerce(name, getattr(self, name), int) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.seeds < 2:
            raise ValueError(
                f"seeds must be >= 2 (a confidence interval over seeds), "
                f"got {self.seeds!r}"
            )
        for spec in specs:
            if spec["meta_iterations"] % self.chunks:
                raise ValueError(
                    f"chunks ({self.chunks}) must divide every setting's "
                    f"meta_iterations; {spec['label']!r} has "
                    f"{spec['meta_iterations']}"
                )
        fraction = coerce("convergence_fraction", self.convergence_fraction, float)
        if not 0.0 < fraction <= 1.0:
            raise ValueError(
                f"convergence_fraction must lie in (0, 1], got {fraction!r}"
            )
        coerce("seed", self.seed, int)

    @classmethod
    def from_dict(cls, values: dict):
        return dataclass_from_dict(
            cls, values, "maml config", required=("name", "settings")
        )

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["settings"] = [{**s, "methods": list(s["methods"])} for s in self.settings]
        out["methods"] = list(self.methods)
        return out
