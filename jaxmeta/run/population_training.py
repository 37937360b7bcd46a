"""`PopulationTraining`: one population trained through the run driver (the
experiment behind `train_population`, and the driver's overhead benchmark)."""

import jax
import numpy as np

from jaxmeta.run import driver
from jaxmeta.run.population import (
    member_keys,
    population_size_of,
    start_members_jit,
    train_members,
)
from jaxmeta.run.population_report import (
    latest_return_postfix,
    metric_rows,
    write_scalars,
)
from jaxmeta.run.sharding import pad_population, padded_size


class PopulationTraining:
    """The `driver.Experiment` behind `train_population`: one population of
    `hparams` (leaves `[pop]`) trained for `num_updates` in chunks of
    `chunk_size`; report keeps every chunk's metrics on the host."""

    kind = "population"
    headline = "train_best"

    def __init__(
        self,
        learner,
        hparams,
        env_params,
        num_updates,
        chunk_size,
        per_member_tasks,
        progress_fn=None,
        keep_metrics=True,
    ):
        self.learner = learner
        self.hparams = hparams
        self.env_params = env_params
        self.population_size = population_size_of(hparams)
        self.chunk_size = chunk_size
        self.num_chunks = num_updates // chunk_size
        self.per_member_tasks = per_member_tasks
        self.progress_fn = progress_fn
        self.keep_metrics = keep_metrics
        self.chunks = []

    def _tasks(self, state):
        if self.per_member_tasks:
            return state["population"]["tasks"]
        return state["shared"]["tasks"]

    def init(self, key, mesh):
        """Pad the population to the mesh, place it, initialise every member."""
        pop = self.population_size
        size = padded_size(pop, mesh)
        population = {
            "keys": pad_population(
                jax.random.key_data(member_keys(key, pop)), pop, size
            ),
            "hparams": pad_population(self.hparams, pop, size),
        }
        shared = {}
        if self.per_member_tasks:
            population["tasks"] = pad_population(self.env_params, pop, size)
        else:
            shared["tasks"] = self.env_params
        state = driver.place_state({"population": population, "shared": shared}, mesh)
        members = state["population"]
        members.update(
            start_members_jit(
                self.learner,
                jax.random.wrap_key_data(members["keys"]),
                members["hparams"],
                self._tasks(state),
                self.per_member_tasks,
            )
        )
        # Placed like every later chunk's outputs, so the first chunk's
        # program is the one the others reuse.
        return driver.place_state(state, mesh)

    def step(self, key, state, chunk: int, mesh):
        """`chunk_size` more updates of every member; outputs its metrics."""
        members, metrics = train_members(
            self.learner,
            state["population"],
            self._tasks(state),
            chunk * self.chunk_size,
            self.chunk_size,
            self.per_member_tasks,
        )
        return {"population": members, "shared": state["shared"]}, metrics

    def host_init(self) -> dict:
        return {}

    def report(self, chunk, outputs, host, sink):
        """Keep the chunk's metrics, call `progress_fn`, and (with a run
        directory) append metrics.csv rows and TensorBoard scalars."""
        metrics = {k: np.asarray(v)[: self.population_size] for k, v in outputs.items()}
        members = range(self.population_size)
        if self.keep_metrics:
            self.chunks.append(metrics)
        if self.progress_fn is not None:
            self.progress_fn((chunk + 1) * self.chunk_size, metrics)
        first = chunk * self.chunk_size
        sink.append("metrics.csv", metric_rows(metrics, members, first))
        write_scalars(sink, metrics, members, first)
        return host, latest_return_postfix(metrics, members)

    def refresh(self, host, sink) -> None:
        return None
