"""The Four Rooms options experiment (what `jaxmeta run options` is) at a
tiny size: its files and rows, the exact optimum it measures against, the
episodes-to-target rule on crafted episodes, a resumed run equal to the
uninterrupted one, and bad configs refused before anything compiles."""

import csv
import json
import os
import shutil

import numpy as np
import pytest

from jaxmeta.run import driver, options_report, population
from jaxmeta.run import options as options_module
from jaxmeta.run.catalog import build, get_experiment, resume_run, start_run

METHODS = [
    {"name": "flat-q", "learner": "qlearning"},
    {"name": "intra", "learner": "intra_option_q", "options": "hallways+primitive"},
]
TINY = {"name": "opt", "methods": METHODS, "trials": 3, "learning_rates": [0.5],
        "episodes": 30, "env_steps": 3000, "chunks": 3, "num_steps": 500,
        "window": 5}  # fmt: skip
FILES = ("results.csv", "curves.csv", "progress.csv")


def _csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("options")
    experiment, _ = build("options", TINY)
    options = driver.RunOptions(
        quiet=True, tensorboard=False, checkpoint_every=1, keep_checkpoints=10
    )
    before = _compiled()
    run_dir, rows = start_run(experiment, str(root), options)
    compiled = [after - b for after, b in zip(_compiled(), before, strict=True)]
    return experiment, run_dir, rows, compiled


def _compiled():
    """Programs compiled so far: training chunks, episode records."""
    return (
        population._chunk_jit._cache_size(),
        options_module.record_episodes_jit._cache_size(),
    )


@pytest.mark.long
def test_files_rows_and_the_optimum(finished):
    experiment, run_dir, rows, compiled = finished
    # The goal is a traced env param: one training program per method for
    # both goals and all chunks, one record program for every group.
    assert compiled == [len(METHODS), 1]
    groups = 2 * len(METHODS)  # goals x methods, one learning rate
    assert len(rows) == groups * 3
    results = _csv(os.path.join(run_dir, "results.csv"))
    assert len(results) == groups * 3
    for row in results:
        episodes = int(row["episodes"])
        assert 0 < episodes <= 30, row
        assert row["failed"] == "False"
        reached = int(row["episodes_to_target"]) <= 30
        assert (row["reached"] == "True") == reached
    assert len(_csv(os.path.join(run_dir, "progress.csv"))) == 3 * groups
    assert len(_csv(os.path.join(run_dir, "curves.csv"))) == groups * 30
    table = open(os.path.join(run_dir, "table.md")).read()
    for text in ("flat-q", "intra", "95% CI", "Goal (7, 9)", "Goal (10, 10)"):
        assert text in table
    for goal in ("7_9", "10_10"):
        assert os.path.getsize(os.path.join(run_dir, f"curves_{goal}.png")) > 0
    optimal = json.load(open(os.path.join(run_dir, "optimal.json")))
    for goal in ("7,9", "10,10"):
        flat, both = optimal[goal]["primitive"], optimal[goal]["hallways+primitive"]
        # Options made of primitive actions neither beat nor lose the optimum.
        np.testing.assert_allclose(both["per_cell"], flat["per_cell"], atol=1e-6)
        assert 10.0 < flat["mean"] < 30.0
        assert min(flat["per_cell"]) == 0.0  # the goal
    # The recorded episodes of the 3 trials of a group fit their steps.
    curves = _csv(os.path.join(run_dir, "curves.csv"))
    for group in experiment.groups:
        goal, name = f"{group.goal[0]},{group.goal[1]}", group.method["name"]
        mine = [r for r in curves if r["goal"] == goal and r["method"] == name]
        total = sum(float(r["steps_mean"]) * int(r["trials"]) for r in mine
                    if int(r["trials"]))  # fmt: skip
        assert 0 < total <= 3 * 3000, (goal, name, total)


@pytest.mark.long
def test_episodes_to_target_rule_on_crafted_episodes(finished):
    experiment = finished[0]
    group = experiment.groups[0]
    steps = options_report.optimum(experiment, group.goal)
    target = 0.1 * options_report.mean_optimum(experiment, group.goal)
    start = int(np.argmax(steps))  # the farthest cell
    # Agent 0: 10 episodes far off, then optimal: the window of 5 first lies
    # within the target at episode 15. Agent 1: always 2 x target too long
    # (censored). Agent 2: only 3 episodes (shorter than the window).
    length = np.full((3, 30), round(steps[start]))
    length[0, :10] = 500
    length[1] = round(steps[start] + 2 * target)
    out = {
        "length": length,
        "start": np.full((3, 30), start),
        "count": np.array([30, 40, 3]),
    }
    stats = options_report.agent_stats(experiment, group, out)
    assert stats["to_target"].tolist() == [15, 31, 31]
    assert stats["recorded"].tolist() == [30, 30, 3]
    assert np.isnan(stats["final"][2]) and stats["first"][0] == 500
    ratio, low, high = options_report.speedup([100.0] * 4, [25.0, 25.0, 25.0, 25.0])
    assert ratio == low == high == 4.0


@pytest.mark.long
def test_resume_from_a_mid_run_checkpoint_equals_uninterrupted(finished, tmp_path):
    _, run_dir, rows, _ = finished
    copy = str(tmp_path / "resumed")
    shutil.copytree(run_dir, copy)
    checkpoints = os.path.join(copy, "checkpoints")
    for name in os.listdir(checkpoints):
        if name != "1":
            shutil.rmtree(os.path.join(checkpoints, name))
    for name in ("results.csv", "curves.csv", "table.md"):
        os.remove(os.path.join(copy, name))
    _, resumed = resume_run(copy, quiet=True)
    for name in FILES:
        a, b = _csv(os.path.join(run_dir, name)), _csv(os.path.join(copy, name))
        assert a == b, name
    assert json.dumps(resumed) == json.dumps(rows)  # NaN-safe


@pytest.mark.parametrize(
    "change, message",
    [
        ({"methods": [{"name": "x", "learner": "dqn"}]},
         "unknown methods\\[0\\].learner"),
        ({"methods": [{"name": "x", "learner": "qlearning", "options": "hallways"}]},
         "options apply to smdp_q, intra_option_q"),
        ({"methods": [{"name": "x", "learner": "smdp_q", "options": "hallway"}]},
         "did you mean 'hallways'"),
        ({"goals": [[7, 8]]}, "is a wall"),
        ({"goals": [[7, 9, 1]]}, "\\(row, col\\) pairs"),
        ({"env_steps": 3100}, "must be a multiple of num_steps x chunks"),
        ({"window": 31}, "window \\(31\\) must not exceed episodes"),
        ({"learning_rates": [0.0]}, "learning_rate"),
        ({"baseline": "flat"}, "unknown baseline method 'flat'"),
        ({"hparams": {"epsilon": 0.1}}, "unknown hparams field 'epsilon'"),
        ({"tolerance": 0}, "tolerance must be > 0"),
    ],
)  # fmt: skip
def test_bad_configs_are_refused_before_compiling(change, message):
    with pytest.raises(ValueError, match=message):
        build("options", {**TINY, **change})


def test_named_experiments_build():
    for name in ("options", "options-full"):
        kind, values = get_experiment(name)
        experiment, _ = build(kind, values)
        assert len(experiment.groups) == 10 and experiment.config.trials >= 30
