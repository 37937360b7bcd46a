"""The generalisation experiment's config (`run/transfer.py`, seeds/000's
third metric): the training envs with their task distributions, the number
of meta-training searches, the unseen test envs (episodes-to-target tables,
`run.episodes_config`) and the searchers compared there. Every check runs
here or when the experiment is built, before anything compiles.
"""

import dataclasses

from jaxmeta.run.config import dataclass_from_dict
from jaxmeta.run.episodes_config import EpisodesConfig, check_searcher_spec
from jaxmeta.run.results import check_run_name
from jaxmeta.validation import check_names, coerce

WARM_LABEL = "sam-hrl-hs-meta"  # the meta-trained searcher on the test envs
SCRATCH_LABEL = "sam-hrl-hs-scratch"  # the same searcher from fresh networks
TRAIN_FIELDS = {
    "env": str,
    "env_config": dict,
    "tasks": dict,
    "learner": str,
    "learner_config": dict,
    "dims": dict,
    "return_bounds": list,
    "population_size": int,
    "rounds": int,
    "num_updates": int,
    "chunk_size": int,
    "eval_episodes": int,
    "eval_max_steps": int,
    "eval_deterministic": bool,
}
TRAIN_DEFAULTS = {
    "env_config": {},
    "tasks": {},
    "learner_config": {},
    "population_size": 8,
    "rounds": 3,
    "chunk_size": 10,
    "eval_episodes": 16,
    "eval_max_steps": 1000,
    "eval_deterministic": False,  # trials evaluated as the policy samples
}
DEFAULT_BASELINES = (
    {"label": "gp-bo", "searcher": "bayes"},
    {"label": "random", "searcher": "random"},
)


def check_train_spec(spec, where: str) -> dict:
    """Names, types and ranges of one training env table (defaults filled
    in); `tasks` maps env_params fields to (low, high) ranges of its task
    distribution ({} for the distribution's default ranges)."""
    if not isinstance(spec, dict):
        raise TypeError(f"{where} must be a table, got {spec!r}")
    check_names(f"{where} field", spec, tuple(TRAIN_FIELDS))
    for name in ("env", "learner", "dims", "num_updates"):
        if name not in spec:
            raise ValueError(f"{where} needs {name}")
    spec = {**TRAIN_DEFAULTS, **spec}
    for name, kind in TRAIN_FIELDS.items():
        if name in spec:
            spec[name] = coerce(f"{where}.{name}", spec[name], kind)
    for name in ("population_size", "rounds", "num_updates", "chunk_size"):
        if spec[name] < 1:
            raise ValueError(f"{where}.{name} must be >= 1, got {spec[name]!r}")
    return spec


@dataclasses.dataclass(frozen=True)
class TransferConfig:
    """Meta-train SAM-HRL-HS's manager and workers on `meta_searches`
    searches, each on a task drawn from a training env's distribution (the
    envs taken in turn), then compare, on every test env, the meta-trained
    searcher, the same searcher from scratch and the `baselines` (default
    GP-BO and random search) by trials and episodes to the env's target.

    Every env (training and test) must tune the same learner over the same
    dims, in the same order: the manager's and workers' networks act on the
    search box's unit cube, so only then do the trained weights fit the test
    searches. `searcher_config`: SAM-HRL-HS's options, the same everywhere.
    """

    name: str
    train_envs: tuple[dict, ...]
    test_envs: tuple[dict, ...]
    meta_searches: int = 8
    searcher_config: dict = dataclasses.field(default_factory=dict)
    calibrate_online: bool = False
    calibration_rounds: int = 12
    baselines: tuple[dict, ...] = DEFAULT_BASELINES
    seeds: int = 5
    seed: int = 0

    KIND = "transfer"

    def __post_init__(self):
        check_run_name(self.name)
        if not self.train_envs:
            raise ValueError("train_envs must hold at least one table")
        train = tuple(
            check_train_spec(s, f"train_envs[{i}]")
            for i, s in enumerate(self.train_envs)
        )
        object.__setattr__(self, "train_envs", train)
        envs = [s["env"] for s in train]
        if len(set(envs)) != len(envs):
            raise ValueError(f"train_envs must be distinct envs, got {envs}")
        if coerce("meta_searches", self.meta_searches, int) < 1:
            raise ValueError(f"meta_searches must be >= 1, got {self.meta_searches!r}")
        coerce("searcher_config", self.searcher_config, dict)
        coerce("calibrate_online", self.calibrate_online, bool)
        if coerce("calibration_rounds", self.calibration_rounds, int) < 1:
            raise ValueError(
                f"calibration_rounds must be >= 1, got {self.calibration_rounds!r}"
            )
        baselines = tuple(
            check_searcher_spec(s, f"baselines[{i}]")
            for i, s in enumerate(self.baselines)
        )
        taken = {WARM_LABEL, SCRATCH_LABEL}
        if any(s["label"] in taken for s in baselines):
            raise ValueError(f"baseline labels {sorted(taken)} are taken")
        object.__setattr__(self, "baselines", baselines)
        unseen = [s.get("env") for s in self.test_envs if isinstance(s, dict)]
        seen = sorted(set(unseen) & set(envs))
        if seen:
            raise ValueError(
                f"test_envs must be unseen in training: {seen} are in train_envs"
            )
        self.test_config()  # checks the test tables, seeds and seed

    def hierarchical(self, label: str) -> dict:
        """The searcher table of the SAM-HRL-HS variant named `label`."""
        table = {"label": label, "searcher": "sam-hrl-hs",
                 "searcher_config": dict(self.searcher_config),
                 "calibrate_online": self.calibrate_online}  # fmt: skip
        if self.calibrate_online:
            table["calibration_rounds"] = self.calibration_rounds
        return table

    def test_config(self) -> EpisodesConfig:
        """The episodes-to-target experiment on the test envs."""
        searchers = [self.hierarchical(WARM_LABEL), self.hierarchical(SCRATCH_LABEL)]
        return EpisodesConfig(
            name=self.name,
            envs=tuple(self.test_envs),
            searchers=tuple(searchers + list(self.baselines)),
            seeds=self.seeds,
            seed=self.seed,
        )

    @classmethod
    def from_dict(cls, values: dict):
        return dataclass_from_dict(
            cls, values, "transfer config",
            required=("name", "train_envs", "test_envs"),
        )  # fmt: skip

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        for name in ("train_envs", "test_envs", "baselines"):
            out[name] = list(getattr(self, name))
        return out
