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


@pytest.mark.long
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


BEYOND = {
    "archs": [[4]],
    "ppo": {"fixed_clip": [0.1, 0.3], "meta_grid": [0.1, 0.3], "num_minibatches": 2},
    "pbt": {"members": 2, "interval": 2},
    "bierl": {"meta_population": 2, "meta_every": 3, "history": 2, "hidden": 4},
}


@pytest.mark.long
def test_beyond_the_seed_adds_pbt_bierl_and_ppo_meta_clip(tmp_path):
    config = TrustRegionConfig(name="tr", envs=[{**TINY_ENV, "beyond": BEYOND}], seed=0)
    options = driver.RunOptions(quiet=True, checkpoint_every=0)
    run_dir, rows = start_run(TrustRegionExperiment(config), str(tmp_path), options)
    by = {(r["arch"], r["method"]): r for r in rows}
    extra = ("pbt", "bierl", "ppo-meta-clip", "ppo-fixed-0.1", "ppo-fixed-0.3")
    for method in extra:
        assert ("MLP(1, 4)", method) in by, method
        assert ("MLP(0, 0)", method) not in by  # only the archs asked for
    # PBT and BiERL set lambda inside kl_range; PPO's clip comes from its grid.
    for method in ("pbt", "bierl"):
        assert 0.001 - 1e-6 <= by["MLP(1, 4)", method]["kl_mean"] <= 0.3 + 1e-6
    assert 0.1 - 1e-6 <= by["MLP(1, 4)", "ppo-meta-clip"]["kl_mean"] <= 0.3 + 1e-6
    assert by["MLP(1, 4)", "ppo-fixed-0.3"]["kl_mean"] == pytest.approx(0.3)
    assert by["MLP(1, 4)", "pbt"]["env_steps_ratio"] == 2.0
    assert by["MLP(1, 4)", "bierl"]["env_steps_ratio"] == pytest.approx(5 / 3)
    table = open(os.path.join(run_dir, "table.md")).read()
    assert "Beyond the seed" in table and "xTRPO + BiERL on λ" in table


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
        ({"beyond": {"bierl": {"meta_every": 2}}}, "must divide test_updates"),
        ({"beyond": {"pbt": {"members": 1}}}, "members must be >= 2"),
        ({"beyond": {"ppo": {"clip_range": [0.3, 0.1]}}}, "clip_range"),
        ({"beyond": {"archs": [[7]]}}, "archs must be among"),
        ({"beyond": {"pdt": {}}}, "pdt"),
    ],
)
def test_bad_trust_region_configs_are_refused_before_compiling(change, message):
    with pytest.raises((ValueError, TypeError), match=message):
        TrustRegionExperiment(
            TrustRegionConfig(name="tr", envs=[{**TINY_ENV, **change}])
        )


def test_the_named_experiments_build():
    for name in ("trust-region", "trust-region-full", "trust-region-beyond"):
        kind, values = get_experiment(name)
        assert kind == "trust-region"
        TrustRegionConfig.from_dict(values)
