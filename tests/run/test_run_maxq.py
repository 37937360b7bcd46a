"""The MAXQ Taxi experiment (what `jaxmeta run maxq` is) at a tiny size:
files and rows, a resumed run equal to the uninterrupted one, exact
optimal values, and bad configs refused before compiling."""

import os

import pytest
from e2e_helpers import assert_resume_rewrites, read_csv, run_tiny

from jaxmeta.envs import taxi
from jaxmeta.run.catalog import build, get_experiment
from jaxmeta.run.maxq import optimal_values

TINY = {"name": "maxq", "trials": 2, "updates": 4, "num_steps": 200, "chunks": 2,
        "eval_steps": 30,
        "methods": [{"name": "maxq", "learner": "maxq",
                     "learner_config": {"trace_length": 4}},
                    {"name": "flat-q", "learner": "qlearning"}]}  # fmt: skip


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    return run_tiny("maxq", TINY, str(tmp_path_factory.mktemp("m")))


@pytest.mark.long
def test_files_rows_and_censoring(finished):
    experiment, run_dir, rows = finished
    for name in ("table.md", "results.csv", "curves.csv", "maxq_taxi.png"):
        assert os.path.isfile(os.path.join(run_dir, name)), name
    assert len(read_csv(os.path.join(run_dir, "curves.csv"))) == 2 * 2 * 2
    assert {(r["method"], r["trial"]) for r in rows} == {
        (m, t) for m in ("maxq", "flat-q") for t in (0, 1)
    }
    for row in rows:  # 800 env steps: nobody is optimal yet, censored
        assert not row["reached_optimum"] and row["episodes_to_optimum"] is None
        assert row["final_greedy_return"] < experiment.optimal.mean()
    assert "flat-q" in experiment.summary(rows)


@pytest.mark.long
def test_resume_equals_uninterrupted(finished, tmp_path):
    _, run_dir, _ = finished
    assert_resume_rewrites(
        run_dir,
        str(tmp_path / "resumed"),
        ("results.csv", "curves.csv"),
        ("method_wall_seconds",),
    )


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
