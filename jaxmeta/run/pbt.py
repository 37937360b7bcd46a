"""Population-based training as a client of the run driver.

The population starts from hparams drawn uniformly in the search space; every
chunk (`chunk_size` updates, PBT's ready interval) trains every member and
then runs `control.pbt.PBT.pop_act` in the same jitted program: the bottom
quantile copies a top member's full state and explores its hparams. After
the last chunk every member is evaluated on fresh episodes. Users run it
today through Ray Tune by checkpointing and reloading trials; here 64 members
are one compiled program.

Files (besides the driver's): metrics.csv (per member and update, with the
hparams in force as `hp/<name>` columns), lineage.csv (every copy: update,
member, parent, whether it resampled, the new hparams), members.csv and
best_config.json (final evaluation), learning_curve.png and lineage.png.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxmeta.control.pbt import PBT
from jaxmeta.run import driver, pbt_report
from jaxmeta.run.population import (
    build_population,
    evaluate_members,
    first_failures,
    init_population,
    no_failures,
    train_chunk,
)
from jaxmeta.run.sharding import (
    constrain_population,
    constrain_replicated,
    pad_population,
    padded_size,
)
from jaxmeta.run.tune_config import PopulationConfig
from jaxmeta.validation import coerce


@dataclasses.dataclass(frozen=True)
class PBTConfig(PopulationConfig):
    """A PBT run: `chunk_size` is the ready interval (updates between exploit
    steps); quantile, resample_probability and perturb_factors as in
    `control.pbt.PBT`."""

    quantile: float = 0.25
    resample_probability: float = 0.25
    perturb_factors: tuple[float, ...] = (0.8, 1.2)

    KIND = "pbt"

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "quantile", coerce("quantile", self.quantile, float))
        object.__setattr__(
            self,
            "resample_probability",
            coerce("resample_probability", self.resample_probability, float),
        )
        factors = coerce("perturb_factors", self.perturb_factors, tuple[float, ...])
        object.__setattr__(self, "perturb_factors", factors)

    def to_dict(self) -> dict:
        out = super().to_dict()
        out["perturb_factors"] = list(self.perturb_factors)
        return out


@dataclasses.dataclass(frozen=True)
class _Static:
    learner: object
    pbt: PBT
    size: int
    chunk_size: int
    mesh: object


def _init(static: _Static, key, env_params):
    pop, size = static.pbt.population_size, static.size
    key_hparams, key_members, key_pbt = jax.random.split(key, 3)
    space = static.pbt.space
    hparams = pad_population(
        space.to_hparams(space.sample(key_hparams, pop)), pop, size
    )
    keys = pad_population(jax.random.split(key_members, pop), pop, size)
    states, keys_updates = init_population(
        static.learner, keys, hparams, env_params, False
    )
    population = {
        "hparams": hparams,
        "learner": states,
        "keys": jax.random.key_data(keys_updates),
        "failure": no_failures(size),
    }
    shared = {"pbt": static.pbt.init(key_pbt)}
    return constrain_population(population, static.mesh), shared


def _fitness(metrics):
    """[size]: mean of the chunk's finite episode returns (NaN if none)."""
    returns = metrics["episode_return"]
    finite = jnp.isfinite(returns)
    count = finite.sum(axis=1)
    total = jnp.where(finite, returns, 0.0).sum(axis=1)
    return jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)


def _chunk(
    static: _Static, key_pbt, population, shared, env_params, first_update, exploit
):
    """Train every member for a chunk, then (if `exploit`) exploit/explore."""
    keys = jax.random.wrap_key_data(population["keys"])
    states, metrics = train_chunk(
        static.learner, keys, population["learner"], population["hparams"],
        env_params, static.chunk_size, False,
    )  # fmt: skip
    failure = first_failures(population["failure"], metrics, first_update)
    hparams_used = population["hparams"]
    pop = static.pbt.population_size
    lineage = {
        "parent": jnp.full(pop, -1, jnp.int32),
        "resampled": jnp.zeros(pop, bool),
    }
    hparams, pbt_state = hparams_used, shared["pbt"]
    if exploit:
        # PBT sees the real members only; device padding keeps its own state.
        real = jax.tree_util.tree_map(lambda x: x[:pop], (states, hparams, failure))
        fitness = _fitness(metrics)[:pop]
        failed = failure["code"][:pop] != 0
        signals = {"fitness": jnp.where(failed, jnp.nan, fitness)}
        (new_states, new_failure), hparams_real, pbt_state, lineage = _pop_act(
            static.pbt, key_pbt, pbt_state, real, signals
        )

        def put(full, part):
            return full.at[:pop].set(part)

        states = jax.tree_util.tree_map(put, states, new_states)
        failure = jax.tree_util.tree_map(put, failure, new_failure)
        hparams = jax.tree_util.tree_map(put, hparams, hparams_real)
    population = {
        **population,
        "learner": states,
        "hparams": hparams,
        "failure": failure,
    }
    outputs = {
        "metrics": metrics,
        "hparams": jax.tree_util.tree_map(lambda x: x[:pop], hparams_used),
        "lineage": lineage,
        "new_hparams": jax.tree_util.tree_map(lambda x: x[:pop], hparams),
    }
    return (
        constrain_population(population, static.mesh),
        {"pbt": pbt_state},
        constrain_replicated(outputs, static.mesh),
    )


def _pop_act(pbt, key, pbt_state, real, signals):
    states, hparams, failure = real
    # The failure record travels with the state it describes.
    (states, failure), hparams, pbt_state, lineage = pbt.pop_act(
        key, pbt_state, (states, failure), hparams, signals
    )
    return (states, failure), hparams, pbt_state, lineage


def _evaluate(
    static: _Static, key, population, env_params, episodes, max_steps, greedy
):
    pop = static.pbt.population_size
    members = jax.tree_util.tree_map(lambda x: x[:pop], population)
    returns, code = evaluate_members(
        static.learner, key, members["learner"], members["failure"], env_params,
        episodes, max_steps, greedy,
    )  # fmt: skip
    out = {"eval_return": returns, "failure_code": code,
           "failure_update": members["failure"]["update"]}  # fmt: skip
    return constrain_replicated(out, static.mesh)


_init_jit = jax.jit(_init, static_argnums=0)
_chunk_jit = jax.jit(_chunk, static_argnums=(0, 6), donate_argnums=(2,))
_evaluate_jit = jax.jit(_evaluate, static_argnums=(0, 4, 5, 6))


class PBTExperiment:
    """A PBT run on the driver; building it checks the whole config."""

    kind = "pbt"
    headline = "train_best"

    def __init__(self, config: PBTConfig):
        if not isinstance(config, PBTConfig):
            raise TypeError(f"config must be a PBTConfig, got {type(config).__name__}")
        self.config = config
        self.seed = config.seed
        self.env, self.env_params, self.learner, self.space = build_population(config)
        self.pbt = PBT(self.space, config.population_size, config.quantile,
                       config.resample_probability, config.perturb_factors)  # fmt: skip
        self.num_chunks = config.chunks_per_round
        self.hparam_names = list(self.space.names)

    def config_dict(self) -> dict:
        return self.config.to_dict()

    def _static(self, mesh) -> _Static:
        size = padded_size(self.config.population_size, mesh)
        return _Static(self.learner, self.pbt, size, self.config.chunk_size, mesh)

    def init(self, key, mesh):
        population, shared = _init_jit(self._static(mesh), key, self.env_params)
        return driver.place_state({"population": population, "shared": shared}, mesh)

    def step(self, key, state, chunk: int, mesh):
        """A chunk of training and, except after the last, one exploit step;
        after the last, the evaluation."""
        static, c = self._static(mesh), self.config
        last = chunk + 1 == self.num_chunks
        key_pbt = jax.random.fold_in(jax.random.fold_in(key, 1), chunk)
        population, shared, outputs = _chunk_jit(
            static, key_pbt, state["population"], state["shared"], self.env_params,
            chunk * c.chunk_size, not last,
        )  # fmt: skip
        if last:
            key_eval = jax.random.fold_in(key, 2)
            outputs["end"] = _evaluate_jit(
                static, key_eval, population, self.env_params, c.eval_episodes,
                c.eval_max_steps, c.eval_deterministic,
            )  # fmt: skip
        return {"population": population, "shared": shared}, outputs

    def host_init(self) -> dict:
        return pbt_report.empty_host(self)

    def report(self, chunk, outputs, host, sink):
        return pbt_report.report(self, chunk, outputs, host, sink)

    def refresh(self, host, sink) -> None:
        pbt_report.refresh(self, host, sink)

    def summary(self, rows, top: int = 5) -> str:
        """The `top` members by final evaluation, as a markdown table."""
        return pbt_report.format_table(rows, self.hparam_names, top)


def run_pbt(config: PBTConfig, out_root: str = "runs", options=None):
    """Run `config` in a fresh run directory; returns `(run_dir, rows)` with
    one row per member (final hparams and evaluation)."""
    from jaxmeta.run.catalog import start_run

    return start_run(PBTExperiment(config), out_root, options or driver.RunOptions())


def hparams_table(hparams, names) -> dict:
    """{name: [pop] numpy} of the searched fields of an hparams struct."""
    return {n: np.asarray(getattr(hparams, n), float) for n in names}
