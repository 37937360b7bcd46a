"""The DIAYN experiment (what `jaxmeta run diayn` is): bad configs refused
before compiling (default run); at a tiny size (long: it compiles DIAYN
twice, its evaluation and SAC), the files and rows, and a resumed run equal
to the uninterrupted one."""

import os

import pytest
from e2e_helpers import assert_resume_rewrites, read_csv, run_tiny

from jaxmeta.run.catalog import build, get_experiment

# About 20-60 s of compiles: runs with `pytest -m long` (suite budget).
pytestmark = pytest.mark.long

TINY = {"name": "diayn", "envs": ["Point2D-v0"], "skills": [2, 3], "seeds": 2,
        "updates": 4, "chunks": 2, "num_envs": 4, "eval_episodes": 2,
        "eval_steps": 12,
        "learner_config": {"hidden": [8], "discriminator_hidden": [8],
                           "batch_size": 8, "learning_starts": 8,
                           "buffer_capacity": 64},
        "downstream_skills": 2, "downstream_updates": 4,
        "downstream_chunks": 2}  # fmt: skip


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"skills": [1, 10]}, r"skills: every count must be an integer >= 2"),
        ({"skills": [10, 10]}, "distinct"),
        ({"downstream_skills": 20}, r"downstream_skills must be one of skills"),
        ({"envs": ["Pendulum-v1"]}, "envs: 'Pendulum-v1' is not one of"),
        ({"downstream_env": "LunarLanderContinuous-v3"}, "downstream_env"),
        ({"chunks": 3}, "chunks must divide updates"),
        ({"threshold": 0.0}, "threshold"),
        ({"learner_config": {"num_skills": 4}}, "num_skills"),
        ({"learner_config": {"discriminator_dims": [5]}}, "discriminator_dims"),
        ({"hparams": {"discriminator_learning_rate": -1.0}}, "discriminator_lea"),
    ],  # fmt: skip
)
def test_bad_configs_are_refused(changes, match):
    with pytest.raises(ValueError, match=match):
        build("diayn", {**TINY, **changes})


def test_named_experiments_build():
    for name in ("diayn", "diayn-full"):
        kind, values = get_experiment(name)
        experiment, _ = build(kind, values)
        assert experiment.num_chunks == values["chunks"] + values["downstream_chunks"]
        assert set(experiment.groups) == {
            f"{env}/{k}"
            for env in ("Point2D-v0", "LunarLanderContinuous-v3")
            for k in (10, 20)
        }


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    return run_tiny("diayn", TINY, str(tmp_path_factory.mktemp("d")))


@pytest.mark.long
def test_files_and_rows(finished):
    experiment, run_dir, rows = finished
    pngs = ("diayn_accuracy.png", "diayn_skills.png", "diayn_downstream.png")
    for name in ("table.md", "accuracy.csv", "skills.csv", "downstream.csv", *pngs):
        assert os.path.isfile(os.path.join(run_dir, name)), name
    # 2 groups x 2 seeds x 2 chunks; 2 seeds x (2 + 3) skills; 2 arms x 2
    # seeds x (the start + 2 chunks).
    assert len(read_csv(os.path.join(run_dir, "accuracy.csv"))) == 8
    assert len(rows) == 10
    assert {r["group"] for r in rows} == {"Point2D-v0/2", "Point2D-v0/3"}
    for row in rows:
        assert 0.0 <= row["own_accuracy"] <= 1.0
        assert row["distinguishable"] == (row["own_accuracy"] >= 0.5)
    downstream = read_csv(os.path.join(run_dir, "downstream.csv"))
    assert len(downstream) == 12
    assert "distinguishable skills" in experiment.summary(rows)


@pytest.mark.long
def test_resume_equals_uninterrupted(finished, tmp_path):
    _, run_dir, _ = finished
    assert_resume_rewrites(
        run_dir,
        str(tmp_path / "resumed"),
        ("accuracy.csv", "skills.csv", "downstream.csv"),
        (),
    )
