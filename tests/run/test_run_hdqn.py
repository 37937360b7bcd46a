"""The h-DQN experiment (what `jaxmeta run hdqn` is): its files and rows
at a tiny size (long: three learners compile), bad configs refused before
compiling, and the named experiments."""

import csv
import os

import numpy as np
import pytest

from jaxmeta.run import driver
from jaxmeta.run.catalog import build, get_experiment, start_run

# About 20-60 s of compiles: runs with `pytest -m long` (suite budget).
pytestmark = pytest.mark.long

NET = {"hidden": [8], "learning_starts": 50, "batch_size": 8}
TINY = {"name": "hdqn", "trials": 2, "updates": 4, "num_steps": 50, "chunks": 2,
        "gradient_steps": 2, "eval_episodes": 4, "max_steps_in_episode": 30,
        "eps_decay_steps": 100,
        "methods": [{"name": "h-dqn", "learner": "hdqn", "learner_config": NET},
                    {"name": "flat-q", "learner": "qlearning"},
                    {"name": "flat-dqn", "learner": "dqn",
                     "learner_config": NET}]}  # fmt: skip


def _csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.mark.long
def test_tiny_run_files_and_rows(tmp_path):
    experiment, _ = build("hdqn", TINY)
    options = driver.RunOptions(quiet=True, tensorboard=False)
    run_dir, rows = start_run(experiment, str(tmp_path), options)
    for name in ("table.md", "results.csv", "curves.csv", "hdqn_chain.png"):
        assert os.path.getsize(os.path.join(run_dir, name)) > 0, name
    curves = _csv(os.path.join(run_dir, "curves.csv"))
    assert len(curves) == 3 * 2 * 2  # methods x trials x chunks
    assert {(r["method"], r["trial"]) for r in rows} == {
        (m, t) for m in ("h-dqn", "flat-q", "flat-dqn") for t in (0, 1)
    }
    for row in curves:
        visits = [float(row[f"visits_s{i}"]) for i in range(1, 7)]
        # An episode arrives in s1 at most once (not at all if truncated)
        # and is paid 0.01 or 1 there, nothing elsewhere.
        assert 0.0 <= visits[0] <= 1.0, row
        reward = float(row["eval_reward"])
        assert 0.0099 * visits[0] <= reward <= visits[0] + 1e-6, row
        assert 0.0 <= float(row["greedy_reward"]) <= 1.0
    for row in rows:
        assert not row["failed"]
        assert np.isfinite(row["final_train_reward"])
    table = open(os.path.join(run_dir, "table.md")).read()
    for text in (
        "h-dqn",
        "flat-q",
        "about 0.13",
        "about 0.01",
        f"{experiment.optimal:.3f}",
    ):
        assert text in table, text


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"chunks": 3}, r"chunks \(3\) must divide updates \(4\)"),
        ({"methods": [{"name": "x", "learner": "ppo"}]}, "unknown methods"),
        (
            {"methods": [{"name": "x", "learner": "hdqn", "colour": 1}]},
            "unknown methods\\[0\\] field 'colour'",
        ),
        (
            {
                "methods": [
                    {
                        "name": "x",
                        "learner": "hdqn",
                        "learner_config": {"subgoals": [1, 7]},
                    }
                ]
            },
            r"subgoals must be state indices in 0\.\.5",
        ),  # fmt: skip
        (
            {
                "methods": [
                    {"name": "x", "learner": "dqn", "learner_config": {"num_steps": 5}}
                ]
            },
            "num_steps",
        ),  # fmt: skip
        ({"gamma": 1.5}, "gamma must be in"),
        (
            {
                "methods": [
                    {"name": "x", "learner": "hdqn", "hparams": {"learning_rate": -1.0}}
                ]
            },
            "learning_rate",
        ),  # fmt: skip
    ],
)
def test_bad_configs_are_refused(changes, match):
    with pytest.raises(ValueError, match=match):
        build("hdqn", {**TINY, **changes})


def test_named_experiments_build():
    for name, trials in (("hdqn", 30), ("hdqn-full", 30)):
        kind, values = get_experiment(name)
        experiment, _ = build(kind, values)
        assert experiment.num_chunks == values["chunks"]
        assert experiment.config.trials >= trials
        assert experiment.optimal == pytest.approx(0.208, abs=1e-6)
