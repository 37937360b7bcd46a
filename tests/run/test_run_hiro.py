"""The HIRO U-maze experiment (what `jaxmeta run hiro` is) at a tiny size:
files and rows, a resumed run equal to the uninterrupted one, and bad
configs refused before compiling."""

import os

import pytest
from e2e_helpers import assert_resume_rewrites, read_csv, run_tiny

from jaxmeta.run.catalog import build, get_experiment

TINY = {"name": "hiro", "env_config": {"max_steps_in_episode": 20},
        "seeds": 2, "updates": 4, "chunks": 2, "eval_episodes": 3,
        "learner_config": {"num_envs": 2, "num_steps": 5, "gradient_steps": 2,
                           "hidden": [8], "batch_size": 8,
                           "buffer_capacity": 64, "learning_starts": 10},
        "hiro_config": {"goal_every": 5, "manager_buffer_capacity": 16,
                        "num_candidates": 3}}  # fmt: skip


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    return run_tiny("hiro", TINY, str(tmp_path_factory.mktemp("h")))


@pytest.mark.long
def test_files_and_rows(finished):
    experiment, run_dir, rows = finished
    for name in ("table.md", "results.csv", "curves.csv", "hiro_umaze.png"):
        assert os.path.isfile(os.path.join(run_dir, name)), name
    curves = read_csv(os.path.join(run_dir, "curves.csv"))
    assert len(curves) == 3 * 2 * 2  # methods x seeds x chunks
    assert {int(r["env_steps"]) for r in curves} == {20, 40}
    for r in curves:  # 3 evaluation episodes: success a multiple of 1/3
        assert round(3 * float(r["success_rate"]), 6) in (0, 1, 2, 3)
        assert 0.0 <= float(r["final_distance"]) <= 3 * 2**0.5
        kept, achieved = float(r["relabel_original"]), float(r["relabel_achieved"])
        if r["method"] == "flat-td3":
            assert kept != kept and achieved != achieved  # NaN: no manager
        elif r["method"] == "hiro-no-correction":
            assert (kept, achieved) == (1.0, 0.0)
        else:
            assert 0.0 <= kept <= 1.0 and 0.0 <= achieved <= 1.0 - kept + 1e-6
    assert {(r["method"], r["seed"]) for r in rows} == {
        (m, s) for m in ("hiro", "hiro-no-correction", "flat-td3") for s in (0, 1)
    }
    assert all(not r["failed"] for r in rows)
    assert all((r["goals_kept_original"] is None) == (r["method"] == "flat-td3")
               for r in rows)  # fmt: skip
    assert "0.99" in experiment.summary(rows)  # the paper's figure beside


@pytest.mark.long
def test_resume_equals_uninterrupted(finished, tmp_path):
    _, run_dir, _ = finished
    assert_resume_rewrites(
        run_dir,
        str(tmp_path / "resumed"),
        ("results.csv", "curves.csv"),
        ("method_wall_seconds",),
    )


def test_named_experiments_build():
    names = ("hiro", "hiro-full", "hiro-fixed-goal", "hiro-fixed-goal-long",
             "hiro-slow")  # fmt: skip
    for name in names:
        kind, config = get_experiment(name)
        assert kind == "hiro"
        experiment, _ = build(kind, config)
        assert experiment.learners["hiro"].goal_dims == (0, 1)
        assert not experiment.learners["hiro-no-correction"].off_policy_correction
        assert not bool(experiment.eval_params.random_goal)
        assert bool(experiment.env_params.random_goal) == ("fixed" not in name)


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"chunks": 3}, "chunks"),
        ({"eval_episodes": 0}, "eval_episodes"),
        ({"hiro_config": {"goal_every": 0}}, "goal_every"),
        ({"hiro_config": {"goal_dims": [0, 7]}}, "goal_dims"),
        ({"hiro_config": {"num_envs": 4}}, "hiro_config"),
        ({"hiro_config": {"off_policy_correction": False}}, "hiro_config"),
        ({"learner_config": {"goal_every": 4}}, "learner_config"),
        ({"hiro_hparams": {"goal_range": -1.0}}, "goal_range"),
        ({"hparams": {"beta": 1.0}}, "beta"),
        ({"env": "NoSuchEnv-v0"}, "env"),
        ({"eval_env_config": {"random_goal": 3}}, "random_goal"),
    ],
)
def test_bad_configs_are_refused(changes, match):
    with pytest.raises((ValueError, TypeError), match=match):
        build("hiro", {**TINY, **changes})


def test_greedy_final_reports_the_last_step_of_each_episode(key):
    import jax
    import numpy as np

    from jaxmeta.envs import make
    from jaxmeta.learners import make_learner
    from jaxmeta.run.hiro_eval import greedy_final

    # The goal is the start and the point barely moves: every episode ends
    # within the radius, whatever the untrained policies do.
    env, params = make("PointUMazeGoals-v0", random_goal=False, start_noise=0.0,
                       goal=np.array([0.5, 0.5]), max_speed=0.001,
                       max_steps_in_episode=12)  # fmt: skip
    for name, extra in (
        ("hiro", {"goal_every": 4, "goal_dims": (0, 1), "manager_buffer_capacity": 10}),
        ("td3", {}),
    ):
        learner = make_learner(name, env, hidden=(8,), buffer_capacity=16,
                               batch_size=4, **extra)  # fmt: skip
        state = learner.init(key, learner.default_hparams(), params)
        success, distance = jax.jit(
            lambda k, s, learner=learner: greedy_final(learner, k, s, params, 3, 12)
        )(key, state)
        assert success.shape == distance.shape == (3,)
        assert bool(success.all()) and float(distance.max()) <= 12 * 0.001 * 2**0.5
