"""The compare experiment (what `jaxmeta run bierl` is): envs x methods x
seeds at equal env-step budgets on the run driver, a BiERL method warm-started
once and shared by its target envs, PBT as a method; its files, its table with
confidence intervals, and bad budgets refused before compiling."""

import csv
import os

import pytest

from jaxmeta.run import driver
from jaxmeta.run.catalog import start_run
from jaxmeta.run.compare import CompareConfig, CompareExperiment

ES_CONFIG = {"population_size": 4, "max_episode_steps": 20, "hidden": [8]}
METHODS = [
    {"name": "es", "learner": "es", "learner_config": ES_CONFIG},
    {
        "name": "bierl",
        "learner": "es",
        "learner_config": ES_CONFIG,
        "bierl": {
            "meta_population": 2,
            "meta_every": 2,
            "fitness_population": 2,
            "controller": {"hidden": 4, "history": 2},
            "warm_start": {"env": "CartPole-v1", "updates": 1},
        },
    },
    {
        "name": "pbt",
        "learner": "es",
        "learner_config": ES_CONFIG,
        "pbt": {
            "members": 2,
            "interval": 2,
            "dims": {"sigma": {"kind": "log_uniform", "low": 0.01, "high": 0.1}},
        },
    },
]


def _config(**changes):
    values = dict(
        name="cmp",
        envs=("CartPole-v1", "Acrobot-v1"),
        methods=METHODS,
        seeds=2,
        budget=8_000,
        chunks=2,
        eval_episodes=2,
        eval_max_steps=50,
    )
    values.update(changes)
    return CompareConfig(**values)


@pytest.mark.long
def test_compare_writes_results_table_and_curves_for_every_group(tmp_path):
    # One warm start per method, shared by its target envs (built, not run).
    assert list(CompareExperiment(_config()).warm) == ["bierl"]
    experiment = CompareExperiment(_config(envs=("CartPole-v1",)))
    options = driver.RunOptions(quiet=True)
    run_dir, _ = start_run(experiment, str(tmp_path), options)
    with open(os.path.join(run_dir, "results.csv")) as f:
        results = list(csv.DictReader(f))
    assert len(results) == 3 * 2  # methods x seeds
    steps = {(r["env"], r["method"]): int(r["env_steps"]) for r in results}
    for (env, method), used in steps.items():
        assert 0 < used <= 8_000, (env, method, used)
    table = open(os.path.join(run_dir, "table.md")).read()
    for name in ("es", "bierl", "pbt", "CartPole-v1", "95"):
        assert name in table
    for name in ("curves.csv", "curves_CartPole-v1.png", "bierl_sigma.png"):
        assert os.path.getsize(os.path.join(run_dir, name)) > 0


def test_a_budget_below_one_update_per_chunk_is_refused():
    with pytest.raises(ValueError, match="budget of CartPole-v1 .* below one update"):
        CompareExperiment(_config(budget=100, envs=("CartPole-v1",)))
