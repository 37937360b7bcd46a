"""The trust-region meta-learning experiment (seeds/002, Figures 1-3) on the
run layer: one driver chunk per env, each

1. collects the meta-dataset: `dataset_runs` xTRPO runs per training
   architecture, lambda_t ~ U[kl_range] every update, each run on a task
   drawn from the env's task distribution (saved as dataset_<env>.npz);
2. fits FQI with extra trees for every (H, psi) of `fqi_candidates` and keeps
   the one whose meta-KL runs do best (mean J over the updates) on
   `validation_runs` held-out tasks per training architecture;
3. evaluates, on every architecture (trained and unseen), `eval_runs` runs of
   test_updates updates each of: meta-KL (the FQI controller), every fixed KL
   of `fixed_kl` (the grid search; "best fixed" is the one with the highest
   mean final J on these same runs, which favours the baseline), and random
   KL (U[kl_range] per update); all methods share the tasks and keys.

Runs of one architecture and method are one vmapped program; architectures
and methods are a loop (different shapes / controllers). Files: table.md,
curves.csv, curves_<env>.png (J with its 90 % CI above, lambda below),
dataset_<env>.npz, fqi_selection.csv.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxmeta.control import Constant, Controlled, UniformRandom, meta_dataset
from jaxmeta.control.fqi import FQIController
from jaxmeta.control.metafeatures import MetaFeatures
from jaxmeta.envs import make
from jaxmeta.learners.trpo_episodic import EpisodicTRPO
from jaxmeta.run import trust_region_beyond as beyond_mod
from jaxmeta.run import trust_region_report as report_mod
from jaxmeta.run.trust_region_config import TASKS, TrustRegionConfig, arch_name


@dataclasses.dataclass(frozen=True)
class EnvSetup:
    spec: dict
    env_params: object
    tasks: object  # a TaskDistribution or None
    learners: dict  # arch name -> EpisodicTRPO
    trained: tuple  # arch names in the meta-dataset
    meta: FQIController  # the controller that acts (any fitted params)


def _setup(spec: dict) -> EnvSetup:
    if spec["tasks"] and spec["env"] not in TASKS:
        raise ValueError(
            f"tasks = true needs a task distribution: env must be one of "
            f"{sorted(TASKS)}, got {spec['env']!r} (or set tasks = false)"
        )
    env, env_params = make(spec["env"], **spec["env_config"])
    tasks = TASKS[spec["env"]](env_params) if spec["tasks"] else None
    learners = {}
    for hidden in [*spec["train_archs"], *spec["test_archs"]]:
        learners[arch_name(hidden)] = EpisodicTRPO(
            env,
            num_envs=spec["num_envs"],
            num_steps=spec["num_steps"],
            hidden=tuple(hidden),
            critic_hidden=tuple(spec["critic_hidden"]),
            features=MetaFeatures(points=spec["metafeature_points"]),
        )
    trained = tuple(arch_name(h) for h in spec["train_archs"])
    meta = FQIController(grid=tuple(spec["meta_grid"]), num_trees=spec["num_trees"])
    return EnvSetup(spec, env_params, tasks, learners, trained, meta)


class TrustRegionExperiment:
    kind = "trust-region"
    headline = "env"

    def __init__(self, config: TrustRegionConfig):
        if not isinstance(config, TrustRegionConfig):
            raise TypeError(
                f"config must be a TrustRegionConfig, got {type(config).__name__}"
            )
        self.config, self.seed = config, config.seed
        self.setups = [_setup(spec) for spec in config.envs]
        self.num_chunks = len(self.setups)

    def config_dict(self) -> dict:
        return self.config.to_dict()

    def init(self, key, mesh):
        return {"population": {}, "shared": {"chunk": jnp.zeros((), jnp.int32)}}

    def step(self, key, state, chunk: int, mesh):
        """The whole pipeline of env `chunk` (dataset, FQI, evaluation)."""
        outputs = run_env(jax.random.fold_in(key, chunk), self.setups[chunk])
        shared = {"chunk": jnp.asarray(chunk + 1, jnp.int32)}
        return {"population": {}, "shared": shared}, outputs

    def host_init(self) -> dict:
        return {"envs": {}}

    def report(self, chunk, outputs, host, sink):
        return report_mod.report(self, chunk, outputs, host, sink)

    def refresh(self, host, sink) -> None:
        report_mod.refresh(self, host, sink)

    def result_rows(self, host) -> list[dict]:
        return report_mod.final_rows(host)

    def summary(self, rows, top: int = 5) -> str:
        return report_mod.table_text(rows)


def _tasks_for(setup: EnvSetup, key, count: int):
    """[count] tasks drawn from the env's distribution (or its one task)."""
    if setup.tasks is None:
        return setup.env_params
    return jax.vmap(setup.tasks.sample)(jax.random.split(key, count))


def _tile(tree, times: int):
    """Leaves [R, ...] -> [times * R, ...]: the R runs again per group."""
    return jax.tree_util.tree_map(
        lambda x: jnp.tile(x, (times,) + (1,) * (jnp.ndim(x) - 1)), tree
    )


def _repeat(tree, count: int):
    """Leaves [G, ...] -> [G * count, ...]: each group's value per run."""
    return jax.tree_util.tree_map(lambda x: jnp.repeat(x, count, axis=0), tree)


def _stack(trees):
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *trees)


@dataclasses.dataclass(frozen=True)
class RunSet:
    """R runs' keys and tasks, shared by every method (common random numbers)."""

    keys: jax.Array  # [R]
    tasks: object  # leaves [R] (or one unbatched task)
    single_task: bool

    @classmethod
    def draw(cls, setup: EnvSetup, key, count: int) -> "RunSet":
        key_runs, key_tasks = jax.random.split(key)
        tasks = _tasks_for(setup, key_tasks, count)
        return cls(jax.random.split(key_runs, count), tasks, setup.tasks is None)

    def tiled(self, groups: int) -> "RunSet":
        tasks = self.tasks if self.single_task else _tile(self.tasks, groups)
        return RunSet(jnp.tile(self.keys, groups), tasks, self.single_task)


def _train(setup, arch, controller, runs: RunSet, updates, groups_hparams=None):
    """meta_trajectories of `runs` (tiled once per entry of groups_hparams:
    the Controlled hparams of each group, leaves [G * R])."""
    controlled = Controlled(setup.learners[arch], controller)
    if groups_hparams is None:
        hparams = controlled.default_hparams()
    else:
        hparams = groups_hparams
        groups = jax.tree_util.tree_leaves(hparams)[0].shape[0] // runs.keys.shape[0]
        runs = runs.tiled(groups)
    return meta_dataset.meta_trajectories(
        controlled, runs.keys, hparams, runs.tasks, updates
    )


def _fixed_hparams(setup, arch, grid, per_group: int):
    hparams = Controlled(setup.learners[arch], Constant()).default_hparams()
    batched = _repeat(_stack([hparams] * grid.shape[0]), per_group)
    values = jnp.repeat(grid, per_group)
    return batched.replace(learner=batched.learner.replace(max_kl=values))


def _meta_hparams(setup, arch, fitted, per_group: int):
    """Controlled hparams with FQI params fitted [G] (leaves [G, ...])."""
    hparams = Controlled(setup.learners[arch], setup.meta).default_hparams()
    groups = jax.tree_util.tree_leaves(fitted.params)[0].shape[0]
    batched = _repeat(_stack([hparams] * groups), per_group)
    return batched.replace(ctrl=_repeat(fitted, per_group))


def run_env(key, setup: EnvSetup) -> dict:
    """Dataset, FQI selection and evaluation of one env (host arrays)."""
    spec = setup.spec
    key_data, key_fit, key_val, key_eval = jax.random.split(key, 4)
    random_kl = UniformRandom("max_kl", *map(float, spec["kl_range"]))
    dataset = meta_dataset.concatenate(
        [
            _train(
                setup,
                arch,
                random_kl,
                RunSet.draw(
                    setup, jax.random.fold_in(key_data, i), spec["dataset_runs"]
                ),
                spec["train_updates"],
            )
            for i, arch in enumerate(setup.trained)
        ]
    )
    tuples = jax.tree_util.tree_map(jnp.asarray, meta_dataset.to_tuples(dataset))
    fitted = []
    for i, (horizon, min_split) in enumerate(spec["fqi_candidates"]):
        candidate = dataclasses.replace(
            setup.meta, horizon=int(horizon), min_split=float(min_split)
        )
        fitted.append(jax.jit(candidate.fit)(jax.random.fold_in(key_fit, i), tuples))
    fitted = _stack(fitted)
    count, val_runs = len(spec["fqi_candidates"]), spec["validation_runs"]
    scores = np.zeros(count)
    for i, arch in enumerate(setup.trained):
        runs = RunSet.draw(setup, jax.random.fold_in(key_val, i), val_runs)
        hparams = _meta_hparams(setup, arch, fitted, val_runs)
        result = _train(setup, arch, setup.meta, runs, spec["test_updates"], hparams)
        per_run = np.where(result.failed, np.nan, result.returns[:, 1:].mean(1))
        scores += np.nanmean(per_run.reshape(count, val_runs), 1) / len(setup.trained)
    best = int(np.nanargmax(scores))
    selected = jax.tree_util.tree_map(lambda x: x[best : best + 1], fitted)
    evaluation = {}
    runs_n, updates = spec["eval_runs"], spec["test_updates"]
    grid = jnp.asarray(spec["fixed_kl"], jnp.float32)
    for i, arch in enumerate(setup.learners):
        runs = RunSet.draw(setup, jax.random.fold_in(key_eval, i), runs_n)
        fixed_hp = _fixed_hparams(setup, arch, grid, runs_n)
        meta_hp = _meta_hparams(setup, arch, selected, runs_n)
        evaluation[arch] = {
            "fixed": meta_dataset.curves(
                _train(setup, arch, Constant(), runs, updates, fixed_hp), grid.size
            ),
            "random": meta_dataset.curves(
                _train(setup, arch, random_kl, runs, updates)
            ),
            "meta": meta_dataset.curves(
                _train(setup, arch, setup.meta, runs, updates, meta_hp)
            ),
            "trained": arch in setup.trained,
        }
    beyond = spec["beyond"]
    if any(beyond[m] for m in ("ppo", "pbt", "bierl")):
        extra = beyond_mod.evaluate(
            jax.random.fold_in(key, 7),
            key_eval,
            setup,
            beyond,
            spec["fqi_candidates"][best],
            lambda k, count: RunSet.draw(setup, k, count),
        )
        for arch, methods in extra.items():
            evaluation[arch]["beyond"] = methods
    return {
        "dataset": dataset._asdict(),
        "candidates": [list(map(float, c)) for c in spec["fqi_candidates"]],
        "validation_scores": scores,
        "selected": best,
        "evaluation": evaluation,
    }
