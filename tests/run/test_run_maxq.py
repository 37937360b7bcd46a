"""The MAXQ Taxi experiment (what `jaxmeta run maxq` is) at a tiny size:
files and rows, a resumed run equal to the uninterrupted one, exact
optimal values, and bad configs refused before compiling."""

import csv
import os
import shutil

import pytest

from jaxmeta.envs import taxi
from jaxmeta.run import driver
from jaxmeta.run.catalog import build, get_experiment, resume_run, start_run
from jaxmeta.run.maxq import optimal_values

TINY = {"name": "maxq", "trials": 2, "updates": 4, "num_steps": 200, "chunks": 2,
        "eval_steps": 30,
        "methods": [{"name": "maxq", "learner": "maxq",
                     "learner_config": {"trace_length": 4}},
                    {"name": "flat-q", "learner": "qlearning"}]}  # fmt: skip


def _csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    experiment, _ = build("maxq", TINY)
    options = driver.RunOptions(
        quiet=True, tensorboard=False, checkpoint_every=1, keep_checkpoints=10
    )
    run_dir, rows = start_run(experiment, str(tmp_path_factory.mktemp("m")), options)
    return experiment, run_dir, rows


def test_files_rows_and_censoring(finished):
    experiment, run_dir, rows = finished
    for name in ("table.md", "results.csv", "curves.csv", "maxq_taxi.png"):
        assert os.path.isfile(os.path.join(run_dir, name)), name
    assert len(_csv(os.path.join(run_dir, "curves.csv"))) == 2 * 2 * 2
    assert {(r["method"], r["trial"]) for r in rows} == {
        (m, t) for m in ("maxq", "flat-q") for t in (0, 1)
    }
    for row in rows:  # 800 env steps: nobody is optimal yet, censored
        assert not row["reached_optimum"] and row["episodes_to_optimum"] is None
        assert row["final_greedy_return"] < experiment.optimal.mean()
    assert "flat-q" in experiment.summary(rows)


def test_resume_equals_uninterrupted(finished, tmp_path):
    _, run_dir, _ = finished
    copy = str(tmp_path / "resumed")
    shutil.copytree(run_dir, copy)
    checkpoints = os.path.join(copy, "checkpoints")
    for name in os.listdir(checkpoints):
        if name != "1":
            shutil.rmtree(os.path.join(checkpoints, name))
    resume_run(copy, quiet=True)
    for name in ("results.csv", "curves.csv"):
        strip = [{k: v for k, v in r.items() if k != "method_wall_seconds"}
                 for r in _csv(os.path.join(run_dir, name))]  # fmt: skip
        again = [{k: v for k, v in r.items() if k != "method_wall_seconds"}
                 for r in _csv(os.path.join(copy, name))]  # fmt: skip
        assert strip == again, name


def test_optimal_values_are_the_shortest_deliveries():
    values = optimal_values()
    # Taxi at R with the passenger at R, destination G (0, 4): pickup (-1),
    # 8 moves round the wall right of R's room (2 down, 4 east, 2 up; -8),
    # then the delivery's +20.
    assert values[int(taxi.encode(0, 0, 0, 1))] == 11.0
    starts = taxi.initial_state_support()
    assert 7.0 < values[starts].mean() < 9.0


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"chunks": 3}, r"chunks \(3\) must divide updates \(4\)"),
        ({"methods": [{"name": "x", "learner": "ppo"}]}, "unknown methods"),
        (
            {"methods": [{"name": "x", "learner": "maxq", "colour": 1}]},
            "unknown methods\\[0\\] field 'colour'",
        ),
        ({"hparams": {"learning_rate": 2.0}}, "learning_rate"),
        (
            {
                "methods": [
                    {"name": "x", "learner": "maxq", "learner_config": {"num_envs": 2}}
                ]
            },
            "num_envs",
        ),
    ],  # fmt: skip
)
def test_bad_configs_are_refused(changes, match):
    with pytest.raises(ValueError, match=match):
        build("maxq", {**TINY, **changes})


def test_named_experiments_build():
    for name in ("maxq", "maxq-full"):
        kind, values = get_experiment(name)
        experiment, _ = build(kind, values)
        assert experiment.num_chunks == values["chunks"]
