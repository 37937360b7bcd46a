"""The one host loop every experiment runs on (the contract is in
docs/architecture.md, "The run layer").

An experiment is pure, jitted `init` and chunked `step` functions over an
explicit state pytree, plus host-side reporting between chunks:

    init(key, mesh) -> state                  # {"population": ..., "shared": ...}
    step(key, state, chunk, mesh) -> (state, outputs)
    host_init() -> host                       # JSON-able record of results so far
    report(chunk, outputs, host, sink) -> (host, postfix)
    refresh(host, sink)                       # slower files: tables, PNGs

The driver owns everything impure: the progress bar (tqdm, ETA, the
experiment's headline numbers), result files written as the run goes (a kill
loses at most the chunk in flight), TensorBoard, device sharding (leaves under
state["population"] are split over the mesh's population axis, the rest
replicated), and orbax checkpoints of the whole state and host record, so
`resume` continues exactly where a checkpoint left off.
"""

import dataclasses
import math
import time
import warnings
from typing import Any, Protocol

import jax
import numpy as np

from jaxmeta.run.sharding import (
    is_primary,
    population_mesh,
    replicate,
    shard_population,
    to_host,
)

__all__ = ["Experiment", "RunOptions", "place_state", "run", "to_host"]


class Experiment(Protocol):
    kind: str  # the catalog kind that rebuilds it from config_dict()
    num_chunks: int
    headline: str  # the postfix key shown first in the progress bar

    def config_dict(self) -> dict: ...

    def init(self, key, mesh) -> Any: ...

    def step(self, key, state, chunk: int, mesh) -> tuple[Any, Any]: ...

    def host_init(self) -> dict: ...

    def report(self, chunk: int, outputs, host: dict, sink) -> tuple[dict, dict]: ...

    def refresh(self, host: dict, sink) -> None: ...


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How the driver runs (not what): checkpoints, logging, progress.

    checkpoint_seconds: wall seconds between checkpoints (default 60).
    checkpoint_every: checkpoint every this many chunks instead (0: by time).
    keep_checkpoints: how many of the newest checkpoints stay on disk.
    tensorboard: write TensorBoard event files under RUN_DIR/tensorboard.
    quiet: no progress bar.
    """

    checkpoint_seconds: float = 60.0
    checkpoint_every: int = 0
    keep_checkpoints: int = 3
    tensorboard: bool = True
    quiet: bool = False

    def __post_init__(self):
        seconds = self.checkpoint_seconds
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise TypeError(f"run.checkpoint_seconds must be a number, got {seconds!r}")
        if not (math.isfinite(seconds) and seconds > 0):
            raise ValueError(
                f"run.checkpoint_seconds must be > 0 (allowed: a positive number "
                f"of seconds), got {seconds!r}"
            )
        for name, low in (("checkpoint_every", 0), ("keep_checkpoints", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"run.{name} must be an int, got {value!r}")
            if value < low:
                raise ValueError(f"run.{name} must be >= {low}, got {value!r}")
        for name in ("tensorboard", "quiet"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(
                    f"run.{name} must be true or false, got {getattr(self, name)!r}"
                )


def place_state(state, mesh):
    """Put `state` on `mesh`: leaves under "population" sharded over the
    population axis (their leading axis must be a multiple of the mesh size),
    every other leaf replicated."""
    return {
        "population": shard_population(state["population"], mesh),
        "shared": replicate(state["shared"], mesh),
    }


class ReportedBy:
    """An experiment whose host side lives in a module: `host_init`,
    `report` and `refresh` call `report_module.empty_host(experiment)`,
    `.report(experiment, chunk, outputs, host, sink)` and
    `.refresh(experiment, host, sink)`; `result_rows` and `summary` (unless
    the experiment overrides them) `.result_rows(experiment, host)` and
    `.table(experiment, rows)`; `config_dict` is `self.config.to_dict()`."""

    report_module = None  # set by the subclass

    def config_dict(self) -> dict:
        return self.config.to_dict()

    def result_rows(self, host) -> list[dict]:
        return self.report_module.result_rows(self, host)

    def summary(self, rows, top: int = 5) -> str:
        return self.report_module.table(self, rows)

    def host_init(self) -> dict:
        return self.report_module.empty_host(self)

    def report(self, chunk, outputs, host, sink):
        return self.report_module.report(self, chunk, outputs, host, sink)

    def refresh(self, host, sink) -> None:
        self.report_module.refresh(self, host, sink)


class NullSink:
    """What `report` writes to when a run has no directory: nothing."""

    run_dir = None
    primary = False

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def _report(experiment, chunk, outputs, host, sink, progress):
    host, postfix = experiment.report(chunk, outputs, host, sink)
    sink.flush()
    progress.update(chunk + 1, postfix, experiment.headline)
    for line in postfix.get("messages", ()):
        progress.write(line)
    return host


def run(
    experiment,
    run_dir: str | None = None,
    options: RunOptions | None = None,
    key=None,
    mesh=None,
    resume: bool = False,
):
    """Run `experiment` to its last chunk.

    run_dir: where results, TensorBoard logs and checkpoints go (None: nowhere,
    no checkpoints). key: the run's root key (default `key(experiment.seed)`).
    resume: continue from the newest readable checkpoint in `run_dir`.

    Returns `(state, host, info)`: the final state, the host record, and
    timings (`compile_s`: first chunk minus a steady one, `train_s`,
    `steady_chunk_s`, `chunk_seconds`, `checkpoint_seconds`: per save,
    `checkpoint_bytes`).
    """
    from jaxmeta.run.checkpoint import Checkpointer
    from jaxmeta.run.progress import Progress
    from jaxmeta.run.results import ResultSink

    options = options or RunOptions()
    mesh = population_mesh() if mesh is None else mesh
    key = jax.random.key(experiment.seed) if key is None else key
    sink = NullSink()
    checkpointer = None
    start, host = 0, experiment.host_init()
    state = None
    if run_dir is not None:
        checkpointer = Checkpointer(run_dir, options.keep_checkpoints)
        if resume:
            restored = checkpointer.restore_latest(
                lambda: jax.eval_shape(lambda: experiment.init(key, mesh))
            )
            if restored is not None:
                leaves, saved = restored
                state = place_state(leaves, mesh)
                host, start = saved["host"], saved["chunk"]
                sink = ResultSink(run_dir, options, saved["files"], saved["tb_step"])
            else:
                warnings.warn(
                    f"no checkpoint in {run_dir}: starting it from the beginning",
                    stacklevel=2,
                )
        if state is None:
            sink = ResultSink(run_dir, options, {}, -1)
    if state is None:
        state = experiment.init(key, mesh)
    progress = Progress(
        experiment.num_chunks, experiment.kind, options.quiet or not is_primary()
    )
    progress.start(start)
    times, saves, last_save = [], [], time.perf_counter()
    # On an accelerator the host reports chunk c while chunk c + 1 runs. On a
    # CPU the report competes with XLA's own threads for the cores: measured
    # 5 % slower than reporting first (64 PPO members, 2 cores).
    overlap = mesh.devices.flat[0].platform != "cpu"
    chunk = start
    try:
        if chunk < experiment.num_chunks:
            began = time.perf_counter()
            state, outputs = experiment.step(key, state, chunk, mesh)
        while chunk < experiment.num_chunks:
            outputs = to_host(outputs)  # waits for the chunk in flight
            times.append(time.perf_counter() - began)
            last = chunk + 1 == experiment.num_chunks
            due = checkpointer is not None and (
                last
                or (
                    (chunk + 1) % options.checkpoint_every == 0
                    if options.checkpoint_every
                    else time.perf_counter() - last_save >= options.checkpoint_seconds
                )
            )
            report_now = due or not overlap
            if report_now:
                # A checkpoint holds this chunk's report: report, then save,
                # then start the next chunk (its inputs are donated).
                host = _report(experiment, chunk, outputs, host, sink, progress)
            if due:
                began = time.perf_counter()
                experiment.refresh(host, sink)
                sink.flush()
                saved = {
                    "host": host,
                    "chunk": chunk + 1,
                    "files": sink.offsets(),
                    "tb_step": sink.tb_step,
                }
                checkpointer.save(chunk + 1, to_host(state), saved)
                saves.append(time.perf_counter() - began)
                last_save = time.perf_counter()
            if not last:
                # With `overlap` the next chunk starts before this one is
                # reported, so the host's files and logs hide behind it.
                began = time.perf_counter()
                state, next_outputs = experiment.step(key, state, chunk + 1, mesh)
            if not report_now:
                host = _report(experiment, chunk, outputs, host, sink, progress)
            chunk += 1
            if not last:
                outputs = next_outputs
    finally:
        progress.close()
        sink.close()
    steady = float(np.median(times[1:])) if len(times) > 1 else 0.0
    info = {
        "compile_s": max(times[0] - steady, 0.0) if times else 0.0,
        "train_s": float(np.sum(times)),
        "steady_chunk_s": steady,
        "chunk_seconds": times,
        "checkpoint_seconds": saves,
        "checkpoint_bytes": checkpointer.size_of_latest() if checkpointer else 0,
        "start_chunk": start,
    }
    return state, host, info
