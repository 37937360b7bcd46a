"""Compare methods across envs at equal env steps, several seeds each, as one
client of the run driver.

Every (env, method) pair is a *group*: `seeds` independent runs of the
method's learner, vmapped (one program per group). Each run gets the env's
budget of env steps: `updates_per_chunk = budget // (steps_per_update x
chunks)` updates per driver chunk, `steps_per_update` being the learner's
nominal (upper-bound) steps, so methods whose episodes end early use fewer
steps than their budget; results report the steps actually used. All groups
advance one chunk per driver step, so results and checkpoints cover every
method as the run goes. After the last chunk each run's final policy is
evaluated (deterministic actions) on fresh episodes. A BiERL method with a
warm start pretrains its controller on the warm-start env first (inside
`init`) and starts every target run from those weights.

Files: curves.csv (per group, seed and update: env steps, episode return
and, for BiERL, the mean sigma it chose), results.csv (final evaluation per
run), table.md (mean +- 95 % CI over seeds per env and method, steps used,
seconds), curves_<env>.png, and bierl_sigma.png.
"""

import dataclasses
import time

import jax
import jax.numpy as jnp

from jaxmeta.envs import make
from jaxmeta.learners.base import train
from jaxmeta.run import compare_report, driver
from jaxmeta.run.config import dataclass_from_dict
from jaxmeta.run.methods import applies_to, build_method, check_spec
from jaxmeta.run.population import (
    MAX_ENV_STEPS,
    evaluate_greedy_jit,
    start_members_jit,
    train_members,
)
from jaxmeta.run.results import check_run_name
from jaxmeta.run.sharding import pad_population, padded_size
from jaxmeta.validation import coerce


@dataclasses.dataclass(frozen=True)
class CompareConfig:
    name: str
    envs: tuple[str, ...]
    methods: tuple[dict, ...]
    env_config: dict = dataclasses.field(default_factory=dict)  # env -> options
    seeds: int = 5
    budget: int = 200_000  # env steps per run
    budgets: dict = dataclasses.field(default_factory=dict)  # env -> budget
    chunks: int = 10
    eval_episodes: int = 16
    eval_max_steps: int = 1000
    seed: int = 0

    KIND = "compare"

    def __post_init__(self):
        check_run_name(self.name)
        envs = coerce("envs", self.envs, tuple[str, ...])
        methods = tuple(
            check_spec(m, f"methods[{i}]") for i, m in enumerate(self.methods)
        )
        if not envs or not methods:
            raise ValueError("envs and methods must each name at least one")
        names = [m["name"] for m in methods]
        if len(set(names)) != len(names):
            raise ValueError(f"method names must be distinct, got {names}")
        object.__setattr__(self, "envs", envs)
        object.__setattr__(self, "methods", methods)
        for name in ("seeds", "budget", "chunks", "eval_episodes", "eval_max_steps"):
            if coerce(name, getattr(self, name), int) <= 0:
                raise ValueError(
                    f"{name} must be a positive integer, got {getattr(self, name)!r}"
                )
        for env, budget in self.budgets.items():
            if env not in envs or coerce(f"budgets.{env}", budget, int) <= 0:
                raise ValueError(
                    f"budgets.{env} must be a positive int for one of {envs}"
                )
        coerce("seed", self.seed, int)

    def budget_of(self, env: str) -> int:
        return int(self.budgets.get(env, self.budget))

    @classmethod
    def from_dict(cls, values: dict):
        return dataclass_from_dict(
            cls, values, "compare config", required=("name", "envs", "methods")
        )

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["envs"], out["methods"] = list(self.envs), list(self.methods)
        return out


@dataclasses.dataclass(frozen=True)
class Group:
    env_name: str
    method: object  # run.methods.Method
    env_params: object
    updates_per_chunk: int

    @property
    def key(self) -> str:
        return f"{self.env_name}/{self.method.name}"


class CompareExperiment:
    kind = "compare"
    headline = "done"

    def __init__(self, config: CompareConfig):
        if not isinstance(config, CompareConfig):
            raise TypeError(
                f"config must be a CompareConfig, got {type(config).__name__}"
            )
        self.config, self.seed = config, config.seed
        self.num_chunks = config.chunks
        self.groups = []
        for env_name in config.envs:
            env, env_params = make(env_name, **config.env_config.get(env_name, {}))
            for i, spec in enumerate(config.methods):
                if not applies_to(spec, env_name):
                    continue
                method = build_method(spec, env, f"methods[{i}] on {env_name}")
                nominal = method.learner.steps_per_update
                per_chunk = config.budget_of(env_name) // (nominal * config.chunks)
                if per_chunk < 1:
                    raise ValueError(
                        f"the budget of {env_name} ({config.budget_of(env_name)}) is "
                        f"below "
                        f"one update per chunk of {spec['name']} ({nominal} steps x "
                        f"{config.chunks} chunks)"
                    )
                if per_chunk * config.chunks * nominal > MAX_ENV_STEPS:
                    raise ValueError(
                        f"{spec['name']} on {env_name}: budget over int32 steps"
                    )
                self.groups.append(Group(env_name, method, env_params, per_chunk))
        # One warm start per method, shared by its target envs: the controller
        # (its input width, its outputs) does not depend on the target env.
        self.warm = {}
        for g in self.groups:
            if g.method.warm_start and g.method.name not in self.warm:
                self.warm[g.method.name] = self._warm_learner(g)
        self.seconds = {}

    def _warm_learner(self, group):
        env_name, updates = group.method.warm_start
        env, env_params = make(env_name, **self.config.env_config.get(env_name, {}))
        spec = next(m for m in self.config.methods if m["name"] == group.method.name)
        return (
            build_method(spec, env, f"warm start of {spec['name']}"),
            env_params,
            updates,
        )

    def config_dict(self) -> dict:
        return self.config.to_dict()

    def init(self, key, mesh):
        """Every group's seeds initialised (after any warm-start pretraining)."""
        seeds, size = self.config.seeds, padded_size(self.config.seeds, mesh)
        population, shared, warm_phi = {}, {}, {}
        names = [m["name"] for m in self.config.methods]
        for index, group in enumerate(self.groups):
            hparams = group.method.hparams
            name = group.method.name
            if name in self.warm and name not in warm_phi:
                warm, warm_params, updates = self.warm[name]
                state, _ = jax.jit(train, static_argnums=(0, 4))(
                    warm.learner,
                    jax.random.fold_in(key, 10_000 + names.index(name)),
                    warm.hparams,
                    warm_params,
                    updates,
                )
                warm_phi[name] = state.phi
            if name in warm_phi:
                hparams = hparams.replace(ctrl_init=warm_phi[name])
            batched = jax.tree_util.tree_map(
                lambda x: jnp.broadcast_to(x, (seeds,) + jnp.shape(x)), hparams
            )
            keys = jax.random.split(jax.random.fold_in(key, index), seeds)
            members = {
                "hparams": pad_population(batched, seeds, size),
                "keys": pad_population(jax.random.key_data(keys), seeds, size),
            }
            placed = driver.place_state({"population": members, "shared": {}}, mesh)
            members = placed["population"]
            population[group.key] = start_members_jit(
                group.method.learner,
                jax.random.wrap_key_data(members["keys"]),
                members["hparams"],
                group.env_params,
                False,
            )
        return {"population": population, "shared": shared}

    def step(self, key, state, chunk: int, mesh):
        """One chunk of every group; after the last, every run's evaluation."""
        population, outputs = dict(state["population"]), {}
        last = chunk + 1 == self.num_chunks
        for index, group in enumerate(self.groups):
            began = time.perf_counter()
            members, metrics = train_members(
                group.method.learner,
                population[group.key],
                group.env_params,
                chunk * group.updates_per_chunk,
                group.updates_per_chunk,
            )
            population[group.key] = members
            out = {"metrics": compare_report.kept_metrics(metrics)}
            if last:
                evaluated = _first(members, self.config.seeds)
                returns, code = evaluate_greedy_jit(
                    group.method.learner,
                    jax.random.fold_in(key, 20_000 + index),
                    evaluated["learner"],
                    evaluated["failure"],
                    group.env_params,
                    self.config.eval_episodes,
                    self.config.eval_max_steps,
                )
                out["eval_return"], out["failure_code"] = returns, code
            jax.block_until_ready(out)
            # Wall time per group (compilation included) for the table only.
            self.seconds[group.key] = self.seconds.get(group.key, 0.0) + (
                time.perf_counter() - began
            )
            outputs[group.key] = out
        return {"population": population, "shared": state["shared"]}, outputs

    def host_init(self) -> dict:
        return compare_report.empty_host(self)

    def report(self, chunk, outputs, host, sink):
        return compare_report.report(self, chunk, outputs, host, sink)

    def refresh(self, host, sink) -> None:
        compare_report.refresh(self, host, sink)

    def result_rows(self, host) -> list[dict]:
        """One row per run: env, method, seed, eval_return, env_steps."""
        return host["results"]

    def summary(self, rows, top: int = 5) -> str:
        return compare_report.table(self, rows, self.seconds)


def _first(tree, count: int):
    return jax.tree_util.tree_map(lambda x: x[:count], tree)
