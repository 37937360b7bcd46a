"""Multi-fidelity tuning: successive halving and Hyperband over one population
per rung, as a client of the run driver (docs/multi_fidelity.md).

A tune config with `searcher = "successive-halving"` or `"hyperband"` runs
here (`tune_experiment` picks the experiment of a `TuneConfig`). Each of its
`rounds` runs the whole schedule (`search.successive_halving`): a bracket asks
the sampler (an ask/tell searcher, random by default) for `population_size`
configs and starts the first `n_s`; every rung trains its members on to the
rung's budget, evaluates them on fresh episodes and scores them as the tuner
does (the log-space HyperScore of the evaluation return; failed members NaN),
and the best `keep` go on. Survivors are gathered, full learner state and
hparams, into the next rung's smaller population: they continue with their
own keys and update counters, so their numbers are those of uninterrupted
training (bit for bit in rungs of two or more members; docs/multi_fidelity.md).
At a bracket's end the sampler is told each member's score at the last rung
it reached.

The state holds one population per rung size (leaves `[padded size, ...]`),
so its structure is fixed for checkpoints and every program compiles once
per rung size: train a chunk (`population.train_members`), score a rung,
compact to the next size, and once each begin a bracket and tell.
"""

import jax
import jax.numpy as jnp

from jaxmeta.run import driver, multi_fidelity_report
from jaxmeta.run.multi_fidelity_config import METHODS, plan, schedule, slot_name
from jaxmeta.run.multi_fidelity_programs import (
    Static,
    begin_bracket,
    begin_jit,
    compact_jit,
    score_jit,
    tell_jit,
)
from jaxmeta.run.population import build_population, train_members
from jaxmeta.run.sharding import padded_size
from jaxmeta.run.tune import TuneExperiment
from jaxmeta.run.tune_config import TuneConfig
from jaxmeta.search import make as make_searcher
from jaxmeta.search import registered_names
from jaxmeta.validation import unknown_name

__all__ = ["METHODS", "MultiFidelityExperiment", "slot_name", "tune_experiment"]


def tune_experiment(config: TuneConfig):
    """The experiment of a tune config: `MultiFidelityExperiment` for the
    multi-fidelity searchers, `TuneExperiment` for the ask/tell ones."""
    if isinstance(config, TuneConfig) and config.searcher in METHODS:
        return MultiFidelityExperiment(config)
    if isinstance(config, TuneConfig) and config.searcher not in registered_names():
        raise unknown_name("searcher", config.searcher, [*registered_names(), *METHODS])
    return TuneExperiment(config)


class MultiFidelityExperiment:
    """Successive halving or Hyperband on the driver (kind "tune": config.json
    and `jaxmeta resume` treat it as the tune run it is). Building it checks
    the whole config, the schedule included, before anything compiles."""

    kind = "tune"
    headline = "best_eval"

    def __init__(self, config: TuneConfig):
        if not isinstance(config, TuneConfig):
            raise TypeError(f"config must be a TuneConfig, got {type(config).__name__}")
        if config.searcher not in METHODS:
            raise unknown_name("multi-fidelity searcher", config.searcher, METHODS)
        if getattr(config, "calibrate_online", False):
            raise ValueError(
                f"calibrate_online must be false with searcher = "
                f"{config.searcher!r} (allowed: false): multi-fidelity runs rank "
                f"every rung by its return and tell the sampler once per bracket"
            )
        self.config = config
        self.seed = config.seed
        self.env, self.env_params, self.learner, self.space = build_population(config)
        options, self.brackets = schedule(config)
        self.sampler = make_searcher(
            options.sampler,
            self.space,
            config.population_size,
            **options.sampler_config,
        )
        self.options = options
        self.meta_params = self.sampler.default_meta_params()
        self.plan = plan(self.brackets, config.rounds, config.chunk_size)
        self.num_chunks = len(self.plan)
        self.hparam_names = list(self.space.names)

    def config_dict(self) -> dict:
        return self.config.to_dict()

    def _static(self, mesh) -> Static:
        c = self.config
        return Static(
            self.learner,
            self.sampler,
            c.population_size,
            c.eval_episodes,
            c.eval_max_steps,
            c.eval_deterministic,
            c.return_bounds,
            mesh,
        )

    def sizes(self, mesh) -> list[int]:
        """Every padded rung size of the schedule, largest first."""
        members = {r.members for rungs in self.brackets for r in rungs}
        return sorted({padded_size(n, mesh) for n in members}, reverse=True)

    def keys(self, key, round_index: int, bracket: int):
        """`(key_ask, key_train, key_eval, key_tell)` of one bracket; member i
        of its first rung trains with `split(key_train, n_s)[i]`."""
        _, key_runs = jax.random.split(key)
        key_bracket = jax.random.fold_in(
            jax.random.fold_in(key_runs, round_index), bracket
        )
        return jax.random.split(key_bracket, 4)

    def init(self, key, mesh):
        """The sampler's state, an empty history and a zero population of
        every rung size (each replaced when its rung begins)."""
        static = self._static(mesh)
        searcher_state = self.sampler.init(jax.random.split(key)[0], self.meta_params)
        population, asked = {}, None
        for size in self.sizes(mesh):
            shapes = jax.eval_shape(
                lambda k, s, size=size: begin_bracket(
                    static,
                    min(size, static.population),
                    size,
                    k,
                    k,
                    s,
                    self.meta_params,
                    self.env_params,
                ),
                jax.random.key(0),
                searcher_state,
            )
            zeros = jax.tree_util.tree_map(
                lambda s: jnp.zeros(s.shape, s.dtype), shapes
            )
            population[slot_name(size)], (_, asked) = zeros
        total = self.config.rounds * len(self.brackets) * self.config.population_size
        history = {
            "z": jnp.zeros((total, self.space.dim), jnp.float32),
            "returns": jnp.full(total, jnp.nan, jnp.float32),
            "mask": jnp.zeros(total, bool),
        }
        shared = {"searcher": searcher_state, "history": history, "asked": asked}
        return driver.place_state({"population": population, "shared": shared}, mesh)

    def step(self, key, state, chunk: int, mesh):
        """Chunk `chunk`: begin a bracket if it is the first, train a chunk of
        the rung, and at the rung's end score it and compact (or tell)."""
        static, where = self._static(mesh), self.plan[chunk]
        rung = self.brackets[where.bracket][where.rung]
        key_ask, key_train, key_eval, key_tell = self.keys(
            key, where.round, where.bracket
        )
        population, shared = dict(state["population"]), dict(state["shared"])
        name = slot_name(padded_size(rung.members, mesh))
        if where.begin:
            population[name], (searcher_state, asked) = begin_jit(
                static,
                rung.members,
                padded_size(rung.members, mesh),
                key_ask,
                key_train,
                shared["searcher"],
                self.meta_params,
                self.env_params,
            )
            shared.update(searcher=searcher_state, asked=asked)
        slot, metrics = train_members(
            self.learner,
            population[name],
            self.env_params,
            where.first_update,
            self.config.chunk_size,
        )
        population[name] = slot
        outputs = {"metrics": metrics, "member": slot["member"]}
        if where.end:
            order, reached, outputs["end"] = score_jit(
                static,
                jax.random.fold_in(key_eval, where.rung),
                slot,
                shared["asked"]["reached"],
                rung.keep,
                self.env_params,
            )
            shared["asked"] = {**shared["asked"], "reached": reached}
            if rung.keep:
                size = padded_size(rung.keep, mesh)
                population[slot_name(size)] = compact_jit(
                    static, size, slot, order, rung.keep
                )
            else:
                told_index = where.round * len(self.brackets) + where.bracket
                shared = tell_jit(
                    static, key_tell, shared, self.meta_params, told_index
                )
        return {"population": population, "shared": shared}, outputs

    def host_init(self) -> dict:
        return multi_fidelity_report.empty_host()

    def report(self, chunk, outputs, host, sink):
        return multi_fidelity_report.report(self, chunk, outputs, host, sink)

    def refresh(self, host, sink) -> None:
        multi_fidelity_report.refresh(self, host, sink)

    def summary(self, rows, top: int = 5) -> str:
        return multi_fidelity_report.summary(self, rows, top)
