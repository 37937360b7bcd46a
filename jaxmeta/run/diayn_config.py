"""The config of the DIAYN experiment (`run.diayn`, kind "diayn"), checked
before anything compiles."""

import dataclasses

from jaxmeta.run.config import dataclass_from_dict
from jaxmeta.run.population import MAX_ENV_STEPS
from jaxmeta.run.results import check_run_name
from jaxmeta.validation import coerce

ENVS = ("Point2D-v0", "LunarLanderContinuous-v3")
# One learning rate for every network; the paper's temperature 0.1 (fixed in
# DIAYN; learned from 0.1 in the downstream SAC).
DEFAULT_HPARAMS = {"learning_rate": 1e-3, "critic_learning_rate": 1e-3,
                   "discriminator_learning_rate": 1e-3, "init_alpha": 0.1}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class DIAYNConfig:
    """DIAYN on every env of `envs` with every skill count of `skills`
    (`seeds` runs each, `updates` updates of `num_envs` env steps, in
    `chunks` chunks); then each skill's evaluation (`eval_episodes`
    stochastic episodes of at most `eval_steps` steps; a skill is
    distinguishable when the discriminator names it on at least
    `threshold` of its states), then SAC on `downstream_env`'s reward from
    the best of the `downstream_skills` skills vs from scratch
    (`downstream_updates` updates in `downstream_chunks` chunks, a greedy
    evaluation after each). `learner_config`: DIAYN's and SAC's static
    fields; `hparams`: both learners' (SAC ignores DIAYN's own)."""

    name: str
    envs: tuple[str, ...] = ENVS
    skills: tuple[int, ...] = (10, 20)
    seeds: int = 5
    updates: int = 2400
    chunks: int = 12
    num_envs: int = 16
    learner_config: dict = dataclasses.field(
        default_factory=lambda: {
            "hidden": [64, 64],
            "discriminator_hidden": [64, 64],
            "batch_size": 128,
            "learning_starts": 1000,
            "buffer_capacity": 50_000,
        }  # fmt: skip
    )
    hparams: dict = dataclasses.field(default_factory=lambda: dict(DEFAULT_HPARAMS))
    eval_episodes: int = 4
    eval_steps: int = 200
    threshold: float = 0.5
    downstream_env: str = "Point2D-v0"
    downstream_skills: int = 10
    downstream_updates: int = 1000
    downstream_chunks: int = 10
    seed: int = 0

    KIND = "diayn"

    def __post_init__(self):
        check_run_name(self.name)
        ints = ("seeds", "updates", "chunks", "num_envs", "eval_episodes",
                "eval_steps", "downstream_updates", "downstream_chunks")  # fmt: skip
        for field in ints:
            if coerce(field, getattr(self, field), int) < 1:
                raise ValueError(f"{field} must be >= 1, got {getattr(self, field)!r}")
        for total, parts in (("updates", "chunks"),
                             ("downstream_updates", "downstream_chunks")):  # fmt: skip
            if getattr(self, total) % getattr(self, parts):
                raise ValueError(f"{parts} must divide {total}")
        if max(self.updates, self.downstream_updates) * self.num_envs > MAX_ENV_STEPS:
            raise ValueError(f"updates x num_envs must be at most {MAX_ENV_STEPS}")
        envs = tuple(self.envs)
        if not envs or len(set(envs)) != len(envs):
            raise ValueError(f"envs must be distinct names, got {list(envs)}")
        for env in envs:
            if env not in ENVS:
                raise ValueError(f"envs: {env!r} is not one of {list(ENVS)}")
        skills = tuple(self.skills)
        if not skills or len(set(skills)) != len(skills):
            raise ValueError(f"skills must be distinct counts, got {list(skills)}")
        for count in skills:
            if not isinstance(count, int) or isinstance(count, bool) or count < 2:
                raise ValueError(
                    f"skills: every count must be an integer >= 2, got {count!r}"
                )
        if self.downstream_env not in envs:
            raise ValueError(
                f"downstream_env must be one of envs {list(envs)}, "
                f"got {self.downstream_env!r}"
            )
        if self.downstream_skills not in skills:
            raise ValueError(
                f"downstream_skills must be one of skills {list(skills)}, "
                f"got {self.downstream_skills!r}"
            )
        if not 0.0 < coerce("threshold", self.threshold, float) <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold!r}")
        fixed = {"env", "num_envs", "num_steps", "num_skills"} & set(
            self.learner_config
        )
        if fixed:
            raise ValueError(
                f"learner_config may not set {sorted(fixed)}: the experiment sets them"
            )
        coerce("seed", self.seed, int)
        object.__setattr__(self, "envs", envs)
        object.__setattr__(self, "skills", skills)

    @classmethod
    def from_dict(cls, values: dict):
        return dataclass_from_dict(cls, values, "diayn config", required=("name",))

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["envs"], out["skills"] = list(self.envs), list(self.skills)
        return out
