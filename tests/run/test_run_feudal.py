"""The FeUdal KeyDoor experiment (what `jaxmeta run feudal` is) at a tiny
size: files and rows, a resumed run equal to the uninterrupted one, and bad
configs refused before compiling."""

import os

import pytest
from e2e_helpers import assert_resume_rewrites, read_csv, run_tiny

from jaxmeta.run.catalog import build, get_experiment

# About 20-60 s of compiles: runs with `pytest -m long` (suite budget).
pytestmark = pytest.mark.long

TINY = {"name": "feudal", "env_config": {"height": 5, "width": 7,
                                         "max_steps_in_episode": 20},
        "seeds": 2, "updates": 4, "alphas": [0.5], "chunks": 2,
        "learner_config": {"num_envs": 2, "num_steps": 8},
        "fun_config": {"hidden": [8], "worker_hidden": 8, "goal_dim": 4,
                       "embed_dim": 2, "horizon": 3, "radius": 2},
        "flat_config": {"hidden": 8, "embed": [8]}}  # fmt: skip


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    return run_tiny("feudal", TINY, str(tmp_path_factory.mktemp("f")))


def test_files_and_rows(finished):
    experiment, run_dir, rows = finished
    for name in ("table.md", "results.csv", "curves.csv", "feudal_keydoor.png"):
        assert os.path.isfile(os.path.join(run_dir, name)), name
    curves = read_csv(os.path.join(run_dir, "curves.csv"))
    assert len(curves) == 3 * 2 * 2  # methods x seeds x chunks
    assert {int(r["env_steps"]) for r in curves} == {32, 64}
    assert {(r["method"], r["seed"]) for r in rows} == {
        (m, s) for m in ("fun-a0.5", "fun-no-intrinsic", "flat-lstm") for s in (0, 1)
    }
    for row in rows:  # KeyDoor pays at most 1 an episode
        assert 0.0 <= row["final_return"] <= 1.0 and not row["failed"]
    assert "flat-lstm" in experiment.summary(rows)


def test_resume_equals_uninterrupted(finished, tmp_path):
    _, run_dir, _ = finished
    assert_resume_rewrites(
        run_dir,
        str(tmp_path / "resumed"),
        ("results.csv", "curves.csv"),
        ("group_wall_seconds",),
    )


def test_named_experiments_build():
    for name in ("feudal", "feudal-full"):
        kind, config = get_experiment(name)
        assert kind == "feudal"
        build(kind, config)


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"chunks": 3}, "chunks"),
        ({"alphas": [-1.0]}, "alphas"),
        ({"alphas": [0.0]}, "alphas"),
        ({"fun_config": {"horizon": 0}}, "horizon"),
        ({"fun_config": {"radius": 0}}, "radius"),
        ({"fun_config": {"num_envs": 4}}, "learner_config"),
        ({"learner_config": {"horizon": 4}}, "learner_config"),
        ({"fun_hparams": {"worker_gamma": 1.5}}, "worker_gamma"),
        ({"hparams": {"beta": 1.0}}, "beta"),
        ({"env": "NoSuchEnv-v0"}, "env"),
    ],
)
def test_bad_configs_are_refused(changes, match):
    with pytest.raises((ValueError, TypeError), match=match):
        build("feudal", {**TINY, **changes})
