"""HIRO against HIRO without its off-policy correction and a flat TD3 on
the point-mass U-maze, on the run layer (Nachum et al. 2018's AntMaze
comparison with the ant replaced by a point).

Training as AntMaze's: every episode's goal is drawn from the free space
(`PointUMazeGoals-v0`, the goal in the observation); after each chunk
every agent is evaluated greedily on the fixed far goal behind the wall
(`eval_env_config`, default `random_goal = False`), success = within the
radius at the episode's last step, over `eval_episodes` episodes.

Methods, `seeds` agents each, every agent `updates x num_envs x num_steps`
env steps: "hiro", "hiro-no-correction" (the same learner with
`off_policy_correction = False`: a static switch, so its own compiled
group) and "flat-td3" (`TD3`, the same network sizes, rates, rollout and
gradient-step shapes as HIRO's worker). Seed i gets the same training key
and the same evaluation starts in every method. Files
(`run.hiro_report`): curves.csv, results.csv, table.md, hiro_umaze.png.
"""

import dataclasses

import jax

from jaxmeta.envs import make
from jaxmeta.learners import hparams_with
from jaxmeta.learners.base import check_hparams
from jaxmeta.learners.hierarchical.hiro import HIRO
from jaxmeta.learners.td3 import TD3
from jaxmeta.run import driver
from jaxmeta.run import hiro_report as report_mod
from jaxmeta.run.config import dataclass_from_dict
from jaxmeta.run.hiro_eval import greedy_final
from jaxmeta.run.method_groups import start_methods, train_methods
from jaxmeta.run.population import MAX_ENV_STEPS
from jaxmeta.run.results import check_run_name
from jaxmeta.validation import checked_fields, coerce

SHARED = ("num_envs", "num_steps", "gradient_steps", "buffer_capacity",
          "batch_size", "learning_starts", "hidden", "activation",
          "policy_delay")  # fmt: skip
METHODS = ("hiro", "hiro-no-correction", "flat-td3")


@dataclasses.dataclass(frozen=True)
class HIROConfig:
    """`seeds` agents per method on `env`, `updates` updates in `chunks`
    chunks, `eval_episodes` greedy evaluation episodes on `eval_env_config`
    after each. `learner_config` is both learners' (the names in SHARED),
    `hiro_config` HIRO's own (goal_every, goal_dims, num_candidates, ...);
    `hparams` both learners' TD3 numbers (HIRO's worker's), `hiro_hparams`
    HIRO's own (manager rates and noise, goal_range, ...)."""

    name: str
    env: str = "PointUMazeGoals-v0"
    env_config: dict = dataclasses.field(default_factory=dict)
    eval_env_config: dict = dataclasses.field(
        default_factory=lambda: {"random_goal": False}
    )
    seeds: int = 5
    updates: int = 3000
    chunks: int = 12
    eval_episodes: int = 10
    learner_config: dict = dataclasses.field(default_factory=dict)
    hiro_config: dict = dataclasses.field(default_factory=dict)
    hparams: dict = dataclasses.field(default_factory=dict)
    hiro_hparams: dict = dataclasses.field(default_factory=dict)
    seed: int = 0

    KIND = "hiro"

    def __post_init__(self):
        check_run_name(self.name)
        for field in ("seeds", "updates", "chunks", "eval_episodes"):
            if coerce(field, getattr(self, field), int) < 1:
                raise ValueError(f"{field} must be >= 1, got {getattr(self, field)!r}")
        if self.updates % self.chunks:
            raise ValueError(
                f"chunks ({self.chunks}) must divide updates ({self.updates})"
            )
        coerce("seed", self.seed, int)
        unknown = set(self.learner_config) - set(SHARED)
        if unknown:
            raise ValueError(
                f"learner_config may set only {', '.join(SHARED)}; got "
                f"{sorted(unknown)} (HIRO's own fields go in hiro_config)"
            )
        fixed = (set(SHARED) | {"env", "off_policy_correction"}) & set(self.hiro_config)
        if fixed:
            raise ValueError(
                f"hiro_config may not set {sorted(fixed)}: learner_config sets "
                "the shared fields, and the methods fix the correction"
            )

    @classmethod
    def from_dict(cls, values: dict):
        return dataclass_from_dict(cls, values, "hiro config", required=("name",))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class HIROExperiment(driver.ReportedBy):
    """The experiment on the driver (kind "hiro")."""

    kind = "hiro"
    headline = "done"
    report_module = report_mod

    def __init__(self, config: HIROConfig):
        if not isinstance(config, HIROConfig):
            raise TypeError(f"config must be a HIROConfig, got {type(config).__name__}")
        self.config, self.seed = config, config.seed
        self.env, self.env_params = make(config.env, **config.env_config)
        _, self.eval_params = make(
            config.env, **{**config.env_config, **config.eval_env_config}
        )
        shared = checked_fields(HIRO, config.learner_config, "learner_config")
        own = checked_fields(HIRO, config.hiro_config, "hiro_config", ("env",))
        if "goal_dims" not in own and config.env == "PointUMazeGoals-v0":
            own["goal_dims"] = (0, 1)  # goals over the position, not the target
        self.learners = {
            "hiro": HIRO(self.env, **shared, **own),
            "hiro-no-correction": HIRO(
                self.env, **shared, **own, off_policy_correction=False
            ),
            "flat-td3": TD3(self.env, **shared),
        }
        hiro_hp = hparams_with(
            self.learners["hiro"].default_hparams(),
            **{**config.hparams, **config.hiro_hparams},
        )
        flat_hp = hparams_with(
            self.learners["flat-td3"].default_hparams(), **config.hparams
        )
        check_hparams(self.learners["hiro"], hiro_hp, "hparams / hiro_hparams")
        check_hparams(self.learners["flat-td3"], flat_hp, "hparams")
        self.hparams = {"hiro": hiro_hp, "hiro-no-correction": hiro_hp,
                        "flat-td3": flat_hp}  # fmt: skip
        per_update = self.learners["hiro"].steps_per_update
        if config.updates * per_update > MAX_ENV_STEPS:
            raise ValueError(f"updates x steps per update must be <= {MAX_ENV_STEPS}")
        episode = int(self.eval_params.max_steps_in_episode)
        self.eval_steps = episode
        self.num_chunks = config.chunks
        self.updates_per_chunk = config.updates // config.chunks
        self.steps_per_chunk = self.updates_per_chunk * per_update
        self.methods = METHODS
        self._env_params = {name: self.env_params for name in METHODS}
        self._evaluate = {
            name: jax.jit(jax.vmap(
                lambda k, s, learner=learner: greedy_final(
                    learner, k, s, self.eval_params, config.eval_episodes, episode
                )
            ))
            for name, learner in self.learners.items()
        }  # fmt: skip

    def init(self, key, mesh):
        """Every method's `seeds` agents started, seed i's key the same in
        every method."""
        return start_methods(
            key, self.learners, self.hparams, self._env_params, self.config.seeds,
            mesh,
        )  # fmt: skip

    def step(self, key, state, chunk: int, mesh):
        """`updates / chunks` updates of every agent, then its greedy
        evaluation; per agent the chunk's training returns and episode
        counts per update, the evaluation's success rate and mean final
        distance to the goal (seed i's evaluation starts the same in every
        method)."""
        eval_keys = jax.random.split(jax.random.fold_in(key, chunk), self.config.seeds)

        def evaluate(name, learner, states):
            success, distance = self._evaluate[name](eval_keys, states)
            return {"success": success.mean(-1), "distance": distance.mean(-1)}

        upc = self.updates_per_chunk
        return train_methods(
            state, self.learners, self._env_params, chunk * upc, upc,
            self.config.seeds, evaluate, tuple(report_mod.RELABEL_COLUMNS.values()),
        )  # fmt: skip
