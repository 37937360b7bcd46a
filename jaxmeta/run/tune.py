"""Tune a learner's hyperparameters: rounds of ask -> train vmapped -> evaluate
-> score -> tell, as one client of the run driver (`run.driver`).

Round r is `chunks_per_round` driver chunks: the first asks the searcher for a
population and initialises it, each trains `chunk_size` updates of every
member, the last evaluates the members on fresh episodes and tells the searcher.
Three jitted programs (begin, train chunk, end), each compiled once for the run.

Scores. A member whose env data, loss, parameters or evaluation return go
non-finite is failed: told to the searcher as NaN (a failed trial), HyperScore
100, ranked below every finite member. The searcher is told the strictly
monotone log-space form of the HyperScore (`hyper_score_log_excess`); the
HyperScore itself is for display. With `return_bounds` omitted, returns are
normalised over every member evaluated so far (rounds included), the searcher's
memory is rescored when that range moves, and members.csv / best_config.json
always rank with the latest range. With `calibrate_online`, the HyperScore's
shape is refitted every round on (early, final) return pairs and told with
it (`run.tune_scores`, where `score_round` lives).
"""

import dataclasses
import warnings

import jax
import jax.numpy as jnp

from jaxmeta.learners.base import FAILURE_NONE
from jaxmeta.run import driver, tune_report
from jaxmeta.run.population import (
    build_population,
    evaluate_members,
    start_members,
    train_members,
)
from jaxmeta.run.sharding import (
    constrain_population,
    constrain_replicated,
    pad_population,
    padded_size,
)
from jaxmeta.run.tune_config import TuneConfig
from jaxmeta.run.tune_scores import early_returns, empty_calibration, score_round
from jaxmeta.search import make as make_searcher

__all__ = [
    "TuneConfig", "TuneExperiment", "best_rows", "format_table", "run_tune",
    "score_round",
]  # fmt: skip


@dataclasses.dataclass(frozen=True)
class _Static:
    """What fixes the shapes and branches of the tune programs."""

    learner: object
    searcher: object
    population: int  # members per round (real)
    size: int  # padded to the mesh
    rounds: int
    eval_episodes: int
    eval_max_steps: int
    eval_deterministic: bool
    bounds: tuple[float, float] | None
    mesh: object
    calibrate: bool = False  # calibrate the HyperScore online (tune_scores)
    calibration_rounds: int = 12


def _begin_round(static: _Static, key_ask, key_train, searcher_state, meta, env_params):
    """Ask a population and initialise it (padded to the mesh)."""
    pop, size = static.population, static.size
    hparams, searcher_state = static.searcher.ask(key_ask, searcher_state, meta)
    keys = jax.random.split(key_train, pop)
    hparams = pad_population(hparams, pop, size)
    population = start_members(
        static.learner, pad_population(keys, pop, size), hparams, env_params, False
    )
    population["trial"] = (
        jnp.zeros(size, bool).at[:pop].set(static.searcher.trial_mask(searcher_state))
    )
    if static.calibrate:
        population["early"] = jnp.full(size, jnp.nan, jnp.float32)
    return constrain_population(population, static.mesh), constrain_replicated(
        searcher_state, static.mesh
    )


def _end_round(
    static: _Static,
    key_eval,
    key_tell,
    population,
    shared,
    meta,
    env_params,
    round_index,
):
    """Evaluate, score and tell. Returns `(shared, outputs)`."""
    pop = static.population
    members = jax.tree_util.tree_map(lambda x: x[:pop], population)
    mean_return, code = evaluate_members(
        static.learner, key_eval, members["learner"], members["failure"], env_params,
        static.eval_episodes, static.eval_max_steps, static.eval_deterministic,
    )  # fmt: skip
    shared, outputs = score_round(
        static.searcher, static.bounds, key_tell, members["hparams"], mean_return,
        code != FAILURE_NONE, members["trial"], shared, meta, round_index,
        members["early"] if static.calibrate else None, static.calibration_rounds,
    )  # fmt: skip
    outputs.update(failure_code=code, failure_update=members["failure"]["update"])
    # Round results are small and shared: replicated, like the searcher.
    return constrain_replicated((shared, outputs), static.mesh)


_begin_jit = jax.jit(_begin_round, static_argnums=0)
_end_jit = jax.jit(_end_round, static_argnums=0)


class TuneExperiment:
    """A tuning run on the driver. Building it checks every name and number
    of `config` (env, learner and its config, dims, searcher and its config,
    the env-step budget) before anything compiles."""

    kind = "tune"
    headline = "best_eval"

    def __init__(self, config: TuneConfig):
        if not isinstance(config, TuneConfig):
            raise TypeError(f"config must be a TuneConfig, got {type(config).__name__}")
        self.config = config
        self.seed = config.seed
        self.env, self.env_params, self.learner, self.space = build_population(config)
        self.searcher = make_searcher(
            config.searcher,
            self.space,
            config.population_size,
            **config.searcher_config,
        )
        budget = config.population_size * config.rounds
        num_points = getattr(self.searcher, "num_points", None)
        if num_points is not None and num_points > budget:
            warnings.warn(
                f"the grid has {num_points} points but rounds x population_size = "
                f"{budget} trials: only the first {budget} points are evaluated",
                stacklevel=2,
            )
        self.meta_params = self.searcher.default_meta_params()
        self.num_chunks = config.rounds * config.chunks_per_round
        self.hparam_names = list(self.space.names)

    def config_dict(self) -> dict:
        return self.config.to_dict()

    def _static_for(self, mesh) -> _Static:
        c = self.config
        return _Static(
            self.learner, self.searcher, c.population_size,
            padded_size(c.population_size, mesh), c.rounds, c.eval_episodes,
            c.eval_max_steps, c.eval_deterministic, c.return_bounds, mesh,
            c.calibrate_online, c.calibration_rounds,
        )  # fmt: skip

    def _round_keys(self, key, round_index):
        _, key_rounds = jax.random.split(key)
        return jax.random.split(jax.random.fold_in(key_rounds, round_index), 4)

    def init(self, key, mesh):
        """The searcher's initial state, an empty history, and zeros in the
        shape of a population (replaced when the first round begins)."""
        static = self._static_for(mesh)
        key_search, _ = jax.random.split(key)
        searcher_state = self.searcher.init(key_search, self.meta_params)
        shapes = jax.eval_shape(
            lambda k, s: _begin_round(
                static, k, k, s, self.meta_params, self.env_params
            )[0],
            jax.random.key(0),
            searcher_state,
        )
        population = jax.tree_util.tree_map(
            lambda s: jnp.zeros(s.shape, s.dtype), shapes
        )
        total = self.config.rounds * self.config.population_size
        history = {
            "z": jnp.zeros((total, self.space.dim), jnp.float32),
            "returns": jnp.full(total, jnp.nan, jnp.float32),
            "mask": jnp.zeros(total, bool),
        }
        shared = {"searcher": searcher_state, "history": history}
        if self.config.calibrate_online:
            history["early"] = jnp.full(total, jnp.nan, jnp.float32)
            shared["calibration"] = empty_calibration()
        return driver.place_state({"population": population, "shared": shared}, mesh)

    def step(self, key, state, chunk: int, mesh):
        """Chunk `chunk` of the run: begin a round, train, end a round."""
        static = self._static_for(mesh)
        c = self.config
        round_index, in_round = divmod(chunk, c.chunks_per_round)
        key_ask, key_train, key_eval, key_tell = self._round_keys(key, round_index)
        population, shared = state["population"], state["shared"]
        if in_round == 0:
            population, searcher_state = _begin_jit(
                static,
                key_ask,
                key_train,
                shared["searcher"],
                self.meta_params,
                self.env_params,
            )
            shared = {**shared, "searcher": searcher_state}
        population, metrics = train_members(
            self.learner, population, self.env_params, in_round * c.chunk_size,
            c.chunk_size,
        )  # fmt: skip
        if c.calibrate_online and in_round == 0:
            population["early"] = early_returns(metrics["episode_return"])
        outputs = {"metrics": metrics, "trial": population["trial"]}
        if in_round == c.chunks_per_round - 1:
            shared, outputs["end"] = _end_jit(
                static, key_eval, key_tell, population, shared, self.meta_params,
                self.env_params, round_index,
            )  # fmt: skip
        return {"population": population, "shared": shared}, outputs

    def host_init(self) -> dict:
        return tune_report.empty_host()

    def report(self, chunk, outputs, host, sink):
        return tune_report.report(self, chunk, outputs, host, sink)

    def refresh(self, host, sink) -> None:
        tune_report.refresh(self, host, sink)

    def summary(self, rows, top: int = 5) -> str:
        """The best `top` members as a markdown table, and the best return."""
        table = tune_report.format_table(
            tune_report.best_rows(rows, top), self.hparam_names
        )
        best = tune_report.best_rows(rows, 1)[0]
        return (
            f"best configs (HyperScore in [100, 200]):\n{table}\n\n"
            f"best eval return {best['eval_return']:.1f} over "
            f"{self.config.eval_episodes} episodes"
        )


def run_tune(
    config: TuneConfig, out_root: str = "runs", quiet: bool = False, options=None
):
    """Run `config` in a fresh run directory under `out_root`; returns
    `(run_dir, rows)` with one row per evaluated member (every round).

    All validation happens before anything compiles. `options` (a
    `driver.RunOptions`) sets checkpoints, TensorBoard and progress.
    """
    from jaxmeta.run.catalog import start_run
    from jaxmeta.run.multi_fidelity import tune_experiment

    options = options or driver.RunOptions(quiet=quiet)
    if quiet and not options.quiet:
        options = dataclasses.replace(options, quiet=True)
    return start_run(tune_experiment(config), out_root, options)


best_rows = tune_report.best_rows
format_table = tune_report.format_table
