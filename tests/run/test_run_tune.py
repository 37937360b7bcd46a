"""End to end: a tiny tune run writes its run directory; the CLI lists and helps."""

import csv
import json
import os

import numpy as np
import pytest

from jaxmeta.cli import main
from jaxmeta.run.tune import TuneConfig, best_rows, format_table, run_tune
from jaxmeta.search import LogUniform, Uniform


def _tiny(**overrides):
    config = dict(
        name="tiny",
        env="CartPole-v1",
        learner="ppo",
        learner_config=dict(
            num_envs=2, num_steps=8, num_epochs=1, num_minibatches=1, hidden=(8,)
        ),
        dims=dict(learning_rate=LogUniform(1e-4, 1e-2), clip_eps=Uniform(0.1, 0.3)),
        searcher="random",
        population_size=3,
        rounds=2,
        num_updates=4,
        chunk_size=2,
        eval_episodes=2,
        eval_max_steps=20,
        return_bounds=(0.0, 500.0),
    )
    config.update(overrides)
    return TuneConfig(**config)


def test_tune_writes_run_directory(tmp_path):
    run_dir, rows = run_tune(_tiny(), out_root=str(tmp_path), quiet=True)
    for name in (
        "config.json",
        "metrics.csv",
        "members.csv",
        "learning_curve.png",
        "best_config.json",
    ):
        assert os.path.getsize(os.path.join(run_dir, name)) > 0, name
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        metric_rows = list(csv.DictReader(f))
    assert len(metric_rows) == 2 * 3 * 4
    assert {"episode_return", "episodes", "env_steps"} <= set(metric_rows[0])
    assert len(rows) == 6
    best = json.load(open(os.path.join(run_dir, "best_config.json")))
    assert best["hyperscore"] == max(r["hyperscore"] for r in rows)
    assert 100.0 <= best["hyperscore"] <= 200.0
    # Evaluation episodes are capped at 20 steps of reward 1.
    assert all(0.0 < r["eval_return"] <= 20.0 for r in rows)
    table = format_table(best_rows(rows, 2), ["learning_rate", "clip_eps"])
    assert table.count("\n") == 3


def test_same_seed_same_numbers(tmp_path):
    _, first = run_tune(_tiny(), out_root=str(tmp_path), quiet=True)
    _, second = run_tune(_tiny(), out_root=str(tmp_path), quiet=True)
    a = np.array([[r["eval_return"], r["learning_rate"]] for r in first])
    b = np.array([[r["eval_return"], r["learning_rate"]] for r in second])
    np.testing.assert_array_equal(a, b)


def test_tune_config_validation():
    with pytest.raises(ValueError, match="population_size"):
        _tiny(population_size=0)
    with pytest.raises(ValueError, match="rounds"):
        _tiny(rounds=0)


def test_cli_list_help_and_errors(capsys):
    assert main(["list"]) == 0
    assert "quickstart" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "run" in capsys.readouterr().out
    assert main(["run", "no-such-experiment"]) == 2
    assert "allowed values: quickstart" in capsys.readouterr().err
