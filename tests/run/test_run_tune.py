"""End to end: a tiny tune run writes its run directory; the CLI lists and helps."""

import csv
import dataclasses
import json
import os

import numpy as np
import pytest
from jax import monitoring

from jaxmeta.cli import main
from jaxmeta.run.catalog import quickstart, split_run_options
from jaxmeta.run.config import apply_overrides, load_config_file
from jaxmeta.run.driver import RunOptions
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


TRACES = []
monitoring.register_event_duration_secs_listener(
    lambda name, _d, **kw: (
        TRACES.append(kw.get("fun_name"))
        if name.endswith("jaxpr_trace_duration")
        else None
    )
)


def test_tune_writes_run_directory(tmp_path):
    TRACES.clear()
    run_dir, rows = run_tune(_tiny(), out_root=str(tmp_path), quiet=True)
    # 2 rounds x 2 chunks: begin, train chunk and end each trace at most once.
    for program in ("_begin_round", "_chunk_and_failures", "_end_round"):
        assert TRACES.count(program) <= 1, (program, TRACES.count(program))
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
    with open(os.path.join(run_dir, "members.csv")) as f:
        members = list(csv.DictReader(f))
    assert len(members) == 6
    assert {"failed", "failure", "failed_at_update", "told_score"} <= set(members[0])


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
    out = capsys.readouterr().out
    for name in (
        "quickstart",
        "ppo",
        "reinforce",
        "bayes",
        "evosax",
        "CartPole-v1",
        "LunarLanderContinuous-v3",
    ):
        assert name in out, name
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "resume" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["tune", "--help"])
    help_text = capsys.readouterr().out
    for field in dataclasses.fields(TuneConfig):
        assert f"  {field.name} (default: " in help_text, field.name
    for option in dataclasses.fields(RunOptions):
        assert option.name in help_text, option.name
    assert main(["run", "no-such-experiment"]) == 2
    err = capsys.readouterr().err
    assert "allowed values: " in err and "quickstart" in err


def test_quickstart_file_is_the_quickstart_experiment():
    path = os.path.join(
        os.path.dirname(__file__), "..", "..", "experiments", "quickstart.toml"
    )
    from_file, options = split_run_options(load_config_file(path))
    assert TuneConfig.from_dict(from_file) == TuneConfig.from_dict(quickstart())
    assert options == RunOptions()
    config = TuneConfig.from_dict(quickstart())
    assert TuneConfig.from_dict(config.to_dict()) == config


def test_overrides_reach_nested_fields():
    values = apply_overrides(
        quickstart(),
        [
            "population_size=64",
            "learner_config.num_envs=8",
            "searcher=random",
            "dims.learning_rate.high=1e-2",
            "return_bounds=[0, 400]",
        ],
    )
    config = TuneConfig.from_dict(values)
    assert config.population_size == 64 and config.searcher == "random"
    assert config.learner_config["num_envs"] == 8
    assert config.dims["learning_rate"] == LogUniform(3e-4, 1e-2)
    assert config.return_bounds == (0.0, 400.0)
