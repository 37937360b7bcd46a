"""Generalisation (seeds/000's third metric) on the run layer: meta-train
SAM-HRL-HS's manager and workers on searches over tasks of the training envs,
then search unseen test envs with the meta-trained networks, with fresh
networks and with the baselines, and count trials and episodes to target.

Meta-training. Search m (m = 0 .. meta_searches - 1) runs on training env
m mod E, on a task drawn from that env's distribution with the key of
search m: it is that env's tune experiment (`run.tune.TuneExperiment`) on
the task's env_params, driven chunk by chunk from this experiment's step.
It starts from the networks and Adam state the previous search ended with
(the first from fresh ones), and its own policy-gradient steps (`tell`)
are the meta-training: the networks carry over, the incumbent and the
manager's window restart per search. So the manager and workers learn what
improves configs across a stream of tasks and envs, as a searcher meant
for many problems would.

Test. The episodes-to-target experiment (`run.episodes`) on the test envs,
whose searcher "sam-hrl-hs-meta" starts every search from the meta-trained
networks (fresh Adam state) and "sam-hrl-hs-scratch" from fresh ones, at the
same budget as the baselines. `run.transfer_report` adds trials to target.

State: {"population": {"test": ..., "meta/<env>": ...}, "shared": {"test":
..., "meta/<env>": ..., "policy": {"params", "opt_state"}}}: one slot per
training env reused by its searches, so the structure is fixed.
"""

import copy
import dataclasses
import time

import jax
import jax.numpy as jnp

from jaxmeta.envs import make
from jaxmeta.envs.tasks import task_distribution
from jaxmeta.run import driver
from jaxmeta.run import transfer_report as report_mod
from jaxmeta.run.episodes import EpisodesExperiment
from jaxmeta.run.episodes_setup import TUNE_FIELDS
from jaxmeta.run.transfer_config import WARM_LABEL, TransferConfig
from jaxmeta.run.tune import TuneExperiment
from jaxmeta.run.tune_config import TuneConfig

POLICY = "policy"


class _WarmStartEpisodes(EpisodesExperiment):
    """Episodes to target whose WARM_LABEL searcher starts from the
    networks in `state["shared"][POLICY]`."""

    def start_tune(self, where, tuner, key_run, state, mesh):
        sub = tuner.init(key_run, mesh)
        if self.config.searchers[where.searcher]["label"] != WARM_LABEL:
            return sub
        searcher = sub["shared"]["searcher"]
        searcher = searcher.replace(params=state["shared"][POLICY])
        return {**sub, "shared": {**sub["shared"], "searcher": searcher}}


@dataclasses.dataclass(eq=False)
class TrainPart:
    """A training env: its spec, tune experiment and task distribution."""

    spec: dict
    tuner: TuneExperiment
    tasks: object

    def on_task(self, task) -> TuneExperiment:
        """The tune experiment on env_params `task` (same programs)."""
        tuner = copy.copy(self.tuner)
        tuner.env_params = task
        return tuner


@dataclasses.dataclass(frozen=True)
class MetaWhere:
    """What meta-training chunk c does: chunk `sub` of search `search`."""

    search: int
    env: int
    sub: int
    last: bool


def _train_part(spec: dict, config: TransferConfig, where: str) -> TrainPart:
    values = {name: spec[name] for name in TUNE_FIELDS}
    if "return_bounds" in spec:
        values["return_bounds"] = spec["return_bounds"]
    table = config.hierarchical(WARM_LABEL)
    values.update(
        name="meta-train", searcher="sam-hrl-hs",
        searcher_config=table["searcher_config"],
        calibrate_online=table["calibrate_online"],
    )  # fmt: skip
    if config.calibrate_online:
        values["calibration_rounds"] = config.calibration_rounds
    _, env_params = make(spec["env"], **spec["env_config"])
    try:
        tasks = task_distribution(spec["env"], env_params, **spec["tasks"])
    except ValueError as error:
        raise ValueError(f"{where}.tasks: {error}") from None
    return TrainPart(spec, TuneExperiment(TuneConfig(**values)), tasks)


def _policy_shapes(searcher):
    state = jax.eval_shape(
        searcher.init, jax.random.key(0), searcher.default_meta_params()
    )
    return jax.tree_util.tree_map(lambda s: (s.shape, s.dtype), state.params)


def check_same_policies(trainers, test: EpisodesExperiment) -> None:
    """ValueError unless every training and test search has the same dims
    (names, in order) and networks as the first training env's."""
    first = trainers[0].tuner
    names, shapes = first.space.names, _policy_shapes(first.searcher)
    others = [(f"train_envs[{i}]", t.tuner) for i, t in enumerate(trainers)]
    for e, part in enumerate(test.parts):
        for j, tuner in enumerate(part.tuners):
            if test.config.searchers[j]["searcher"] == "sam-hrl-hs":
                others.append((f"test_envs[{e}]", tuner))
    for where, tuner in others:
        if tuner.space.names != names:
            raise ValueError(
                f"{where}.dims must be the training envs' dims in the same order "
                f"{list(names)} (the meta-trained networks act on them), got "
                f"{list(tuner.space.names)}"
            )
        if _policy_shapes(tuner.searcher) != shapes:
            raise ValueError(
                f"{where}: SAM-HRL-HS's networks differ from train_envs[0]'s; set "
                "the same searcher_config (groups, sizes) for every env"
            )


class TransferExperiment(driver.ReportedBy):
    """The experiment on the driver (kind "transfer"); building it checks
    the whole config before anything compiles."""

    kind = "transfer"
    headline = "stage"
    report_module = report_mod

    def __init__(self, config: TransferConfig):
        if not isinstance(config, TransferConfig):
            raise TypeError(
                f"config must be a TransferConfig, got {type(config).__name__}"
            )
        self.config, self.seed = config, config.seed
        self.trainers = [
            _train_part(spec, config, f"train_envs[{i}]")
            for i, spec in enumerate(config.train_envs)
        ]
        self.test = _WarmStartEpisodes(config.test_config())
        check_same_policies(self.trainers, self.test)
        self.meta_plan = []
        for m in range(config.meta_searches):
            e = m % len(self.trainers)
            n = self.trainers[e].tuner.num_chunks
            self.meta_plan += [MetaWhere(m, e, c, c == n - 1) for c in range(n)]
        self.num_chunks = len(self.meta_plan) + self.test.num_chunks
        self._sample = jax.jit(lambda tasks, key: tasks.sample(key), static_argnums=0)

    def slot(self, e: int) -> str:
        return f"meta/{self.config.train_envs[e]['env']}"

    def task(self, key, search: int):
        """env_params of meta-training search `search`."""
        part = self.trainers[search % len(self.trainers)]
        key_tasks = jax.random.fold_in(jax.random.fold_in(key, 0), 1 << 20)
        return self._sample(part.tasks, jax.random.fold_in(key_tasks, search))

    def init(self, key, mesh):
        """The test experiment's state, zero meta-training slots and fresh
        networks (with their Adam state) for the first search."""
        test = self.test.init(jax.random.fold_in(key, 1), mesh)
        population, shared = {"test": test["population"]}, {"test": test["shared"]}
        zeros = lambda tree: jax.tree_util.tree_map(  # noqa: E731
            lambda s: jnp.zeros(s.shape, s.dtype), tree
        )
        for e, part in enumerate(self.trainers):
            sub = jax.eval_shape(lambda p=part: p.tuner.init(key, mesh))
            population[self.slot(e)] = zeros(sub["population"])
            shared[self.slot(e)] = zeros(sub["shared"])
        searcher = self.trainers[0].tuner.searcher
        fresh = searcher.init(
            jax.random.fold_in(key, 2), searcher.default_meta_params()
        )
        shared[POLICY] = {"params": fresh.params, "opt_state": fresh.opt_state}
        return driver.place_state({"population": population, "shared": shared}, mesh)

    def step(self, key, state, chunk: int, mesh):
        """A meta-training chunk, or a chunk of the test experiment."""
        began = time.perf_counter()
        if chunk < len(self.meta_plan):
            state, outputs = self._meta_step(key, state, self.meta_plan[chunk], mesh)
        else:
            view = {
                "population": state["population"]["test"],
                "shared": {
                    **state["shared"]["test"],
                    POLICY: state["shared"][POLICY]["params"],
                },
            }
            view, outputs = self.test.step(
                jax.random.fold_in(key, 1), view, chunk - len(self.meta_plan), mesh
            )
            test_shared = {k: v for k, v in view["shared"].items() if k != POLICY}
            state = {
                "population": {**state["population"], "test": view["population"]},
                "shared": {**state["shared"], "test": test_shared},
            }
            outputs = {"test": outputs}
        jax.block_until_ready((state, outputs))
        outputs["seconds"] = time.perf_counter() - began
        return state, outputs

    def _meta_step(self, key, state, where: MetaWhere, mesh):
        part, name = self.trainers[where.env], self.slot(where.env)
        task = self.task(key, where.search)
        tuner = part.on_task(task)
        key_search = jax.random.fold_in(jax.random.fold_in(key, 0), where.search)
        if where.sub == 0:
            sub = tuner.init(key_search, mesh)
            policy = state["shared"][POLICY]
            searcher = sub["shared"]["searcher"].replace(
                params=policy["params"], opt_state=policy["opt_state"]
            )
            sub = {**sub, "shared": {**sub["shared"], "searcher": searcher}}
        else:
            sub = {
                "population": state["population"][name],
                "shared": state["shared"][name],
            }
        sub, sub_out = tuner.step(key_search, sub, where.sub, mesh)
        shared = {**state["shared"], name: sub["shared"]}
        if where.last:
            searcher = sub["shared"]["searcher"]
            shared[POLICY] = {
                "params": searcher.params,
                "opt_state": searcher.opt_state,
            }
        population = {**state["population"], name: sub["population"]}
        fields = {k: getattr(task, k) for k in part.tasks.domains}
        outputs = {"meta": sub_out, "task": fields}
        return {"population": population, "shared": shared}, outputs

    def result_rows(self, host) -> list[dict]:
        """One row per (test env, method, seed): trials and episodes to target."""
        return host["transfer"]

    def summary(self, rows, top: int = 5) -> str:
        return report_mod.table(self, None, rows)
