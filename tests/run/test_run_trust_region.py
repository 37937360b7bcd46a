"""The trust-region experiment (what `jaxmeta run trust-region` is) at a tiny
size: meta-dataset, FQI selection over (H, psi), evaluation of meta-KL vs
fixed and random KL on a seen and an unseen architecture; its files, the
dataset reloads, and bad configs refused before compiling."""

import csv
import os

import numpy as np
import pytest

from jaxmeta.control import meta_dataset
from jaxmeta.run import driver
from jaxmeta.run.catalog import get_experiment, start_run
from jaxmeta.run.trust_region import TrustRegionConfig, TrustRegionExperiment

TINY_ENV = {
    "label": "golf",
    "env": "Minigolf-v0",
    "num_envs": 8,
    "num_steps": 8,
    "train_archs": [[]],
    "test_archs": [[4]],
    "critic_hidden": [8],
    "dataset_runs": 4,
    "train_updates": 3,
    "test_updates": 3,
    "eval_runs": 3,
    "validation_runs": 2,
    "fixed_kl": [0.01, 0.1],
    "meta_grid": [0.01, 0.1],
    "fqi_candidates": [[1, 0.1], [2, 0.2]],
    "metafeature_points": 16,
    "num_trees": 4,
}


def test_trust_region_writes_tables_curves_and_a_reloadable_dataset(tmp_path):
    config = TrustRegionConfig(name="tr", envs=[TINY_ENV], seed=0)
    options = driver.RunOptions(quiet=True, checkpoint_every=0)
    run_dir, rows = start_run(TrustRegionExperiment(config), str(tmp_path), options)
    for name in (
        "table.md",
        "results.csv",
        "curves.csv",
        "fqi_selection.csv",
        "curves_golf.png",
        "dataset_golf.npz",
    ):
        assert os.path.isfile(os.path.join(run_dir, name)), name
    runs = meta_dataset.load(os.path.join(run_dir, "dataset_golf.npz"))
    assert runs.features.shape == (4, 3, 22)
    tuples = meta_dataset.to_tuples(runs)
    assert tuples.obs.shape[0] == 12 - 3 * runs.failed.sum()
    # The dataset's lambdas are the random controller's draws, inside kl_range.
    assert np.all((runs.action >= 0.001) & (runs.action <= 0.3))
    with open(os.path.join(run_dir, "results.csv")) as f:
        assert len(list(csv.DictReader(f))) == len(rows)
    methods = {(r["arch"], r["method"]) for r in rows}
    for arch in ("MLP(0, 0)", "MLP(1, 4)"):
        for method in ("meta", "random", "fixed-0.01", "fixed-0.1"):
            assert (arch, method) in methods
    table = open(os.path.join(run_dir, "table.md")).read()
    assert "MLP(1, 4) | no |" in table and "MLP(0, 0) | yes |" in table
    # Meta-KL's lambdas come from its grid; fixed KL's are the constants.
    for row in rows:
        if row["method"] == "meta":
            assert 0.01 - 1e-6 <= row["kl_mean"] <= 0.1 + 1e-6
        if row["method"].startswith("fixed-"):
            assert row["kl_mean"] == pytest.approx(float(row["method"][6:]))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"kl_range": [0.0, 0.1]}, "kl_range"),
        ({"fixed_kl": []}, "empty grid"),
        ({"meta_grid": [0.01, -1.0]}, "> 0"),
        ({"train_archs": [[4, 4, 4, 4]]}, "at most 3"),
        ({"num_envs": 4}, r"N >= k \+ 1"),
        ({"fqi_candidates": [[0, 0.1]]}, "horizon"),
        ({"dataset_runs": 0}, "dataset_runs"),
        ({"bogus": 1}, "bogus"),
        ({"env": "Pendulum-v1"}, "needs a task distribution"),
    ],
)
def test_bad_trust_region_configs_are_refused_before_compiling(change, message):
    with pytest.raises((ValueError, TypeError), match=message):
        TrustRegionExperiment(
            TrustRegionConfig(name="tr", envs=[{**TINY_ENV, **change}])
        )


def test_the_named_experiments_build():
    for name in ("trust-region", "trust-region-full"):
        kind, values = get_experiment(name)
        assert kind == "trust-region"
        TrustRegionConfig.from_dict(values)
