"""Helpers the experiments' end-to-end tests share (imported by name:
pytest puts this folder on sys.path): a finished tiny run
checkpointed after every chunk, and the check that resuming a copy of it
from its first checkpoint rewrites the same files."""

import csv
import os
import shutil

from jaxmeta.run import driver
from jaxmeta.run.catalog import build, resume_run, start_run


def read_csv(path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


def run_tiny(kind: str, config: dict, out_dir: str):
    """`(experiment, run_dir, rows)` of `config` (kind `kind`) run to the
    end under `out_dir`, quiet, a checkpoint kept after every chunk."""
    experiment, _ = build(kind, config)
    options = driver.RunOptions(
        quiet=True, tensorboard=False, checkpoint_every=1, keep_checkpoints=10
    )
    run_dir, rows = start_run(experiment, out_dir, options)
    return experiment, run_dir, rows


def assert_resume_rewrites(run_dir, copy_dir, files, volatile=()):
    """Copy `run_dir` to `copy_dir`, keep only its checkpoint "1", resume it
    and assert each of `files` (CSVs) equals the uninterrupted run's but for
    the `volatile` columns (wall times). Returns resume_run's result."""
    shutil.copytree(run_dir, copy_dir)
    checkpoints = os.path.join(copy_dir, "checkpoints")
    for name in os.listdir(checkpoints):
        if name != "1":
            shutil.rmtree(os.path.join(checkpoints, name))
    resumed = resume_run(copy_dir, quiet=True)
    for name in files:
        rows = [read_csv(os.path.join(d, name)) for d in (run_dir, copy_dir)]
        strip = [[{k: v for k, v in r.items() if k not in volatile} for r in side]
                 for side in rows]  # fmt: skip
        assert strip[0] == strip[1], name
    return resumed
