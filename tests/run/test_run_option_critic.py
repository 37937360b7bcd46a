"""The option-critic transfer experiment (what `jaxmeta run option-critic`
is) at a tiny size: its files and rows, the goal moved exactly at each
trial's switch episode, the windows of the table, and bad configs refused
before anything compiles. The resumed-equals-uninterrupted check is
`long`."""

import csv
import json
import os
import shutil

import jax
import numpy as np
import pytest

from jaxmeta.envs.four_rooms import ROOM_OF_CELL, hallway_cells
from jaxmeta.envs.four_rooms_switch import make_four_rooms_switch
from jaxmeta.run import driver, option_critic_report
from jaxmeta.run.catalog import build, get_experiment, resume_run, start_run

# About 20-60 s of compiles: runs with `pytest -m long` (suite budget).
pytestmark = pytest.mark.long

METHODS = [
    {"name": "oc", "learner": "option_critic", "learner_config": {"num_options": 2}},
]
TINY = {"name": "oc", "methods": METHODS, "trials": 2, "episodes": 12,
        "switch_after": 6, "env_steps": 2000, "chunks": 2, "num_steps": 500,
        "window": 3, "max_steps_in_episode": 200}  # fmt: skip


def _csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("option_critic")
    experiment, _ = build("option-critic", TINY)
    options = driver.RunOptions(
        quiet=True, tensorboard=False, checkpoint_every=1, keep_checkpoints=10
    )
    run_dir, rows = start_run(experiment, str(root), options)
    return experiment, run_dir, rows


def test_files_and_rows(finished):
    experiment, run_dir, rows = finished
    assert len(rows) == 2
    for row in _csv(os.path.join(run_dir, "results.csv")):
        assert 0 < int(row["episodes"]) <= 12 and row["failed"] == "False"
        cell = [int(v) for v in row["new_goal"].split(",")]
        assert cell[0] >= 7 and cell[1] >= 7  # the lower-right room
    assert len(_csv(os.path.join(run_dir, "curves.csv"))) == 12
    assert len(_csv(os.path.join(run_dir, "progress.csv"))) == 2
    table = open(os.path.join(run_dir, "table.md")).read()
    for text in ("oc", "95% CI", "episodes 10 after move", "hallway cells"):
        assert text in table
    for name in ("curves.png", "terminations.png"):
        assert os.path.getsize(os.path.join(run_dir, name)) > 0
    assert all(ROOM_OF_CELL[c] == 3 for c in experiment.new_goals)


def test_goal_moves_exactly_after_switch_after_episodes():
    env, params = make_four_rooms_switch(
        new_goal=(10, 10), switch_after=3, max_steps_in_episode=5
    )
    step = jax.jit(env.step)
    obs, state = env.reset(jax.random.key(0), params)
    goals = []
    key = jax.random.key(1)
    for _ in range(60):
        key, key_step = jax.random.split(key)
        obs, state, _, terminated, truncated, _ = step(key_step, state, 0, params)
        if terminated or truncated:
            goals.append(tuple(np.asarray(state.inner.goal)))
    # Goal of the episode that starts after each end: old for the first 2.
    assert goals[:2] == [(7, 9)] * 2 and set(goals[2:]) == {(10, 10)}
    assert int(state.episodes) == len(goals)


def test_window_means_skip_incomplete_trials(finished):
    experiment = finished[0]
    config = experiment.config
    lengths = np.full((2, 12), np.nan)
    lengths[0] = np.arange(1, 13)
    lengths[1, :8] = 5.0  # stopped after 8 episodes
    means = option_critic_report._window_means(config, lengths)
    np.testing.assert_allclose(means["10 after move"][0], np.mean(np.arange(7, 13)))
    assert np.isnan(means["10 after move"][1])
    np.testing.assert_allclose(means["100 before move"], [3.5, 5.0])
    beta = np.full((2, 104, 2), 0.2)
    beta[:, hallway_cells] = 0.9
    at, off = option_critic_report.hallway_contrast(beta)
    np.testing.assert_allclose(at, 0.9)
    np.testing.assert_allclose(off, 0.2)


@pytest.mark.long
def test_resume_from_a_mid_run_checkpoint_equals_uninterrupted(finished, tmp_path):
    _, run_dir, rows = finished
    copy = str(tmp_path / "resumed")
    shutil.copytree(run_dir, copy)
    checkpoints = os.path.join(copy, "checkpoints")
    for name in os.listdir(checkpoints):
        if name != "1":
            shutil.rmtree(os.path.join(checkpoints, name))
    for name in ("results.csv", "curves.csv", "table.md"):
        os.remove(os.path.join(copy, name))
    _, resumed = resume_run(copy, quiet=True)
    for name in ("results.csv", "curves.csv", "progress.csv"):
        a, b = _csv(os.path.join(run_dir, name)), _csv(os.path.join(copy, name))
        assert a == b, name
    assert json.dumps(resumed) == json.dumps(rows)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"methods": [{"name": "x", "learner": "dqn"}]},
         "unknown methods\\[0\\].learner"),
        ({"methods": [{"name": "x", "learner": "option_critic",
                       "learner_config": {"num_options": 0}}]},
         "num_options must be a positive integer"),
        ({"methods": [{"name": "x", "learner": "option_critic",
                       "hparams": {"temperature": 0.0}}]},
         "methods\\[0\\].hparams.temperature must lie in"),
        ({"methods": [{"name": "x", "learner": "option_critic",
                       "hparams": {"xi": -1.0}}]}, "xi must lie in"),
        ({"methods": [{"name": "x", "learner": "sarsa",
                       "hparams": {"temperature": 1.0}}]},
         "unknown hyperparameter 'temperature'"),
        ({"methods": [{"name": "x", "learner": "sarsa",
                       "learner_config": {"num_envs": 2}}]}, "may not set"),
        ({"switch_after": 12}, "switch_after \\(12\\) must be below episodes"),
        ({"env_steps": 2100}, "must be a multiple of num_steps x chunks"),
        ({"new_goal": "room"}, "unknown new_goal"),
        ({"fail_prob": 1.0}, "fail_prob must be in"),
    ],
)  # fmt: skip
def test_bad_configs_are_refused_before_compiling(change, message):
    with pytest.raises(ValueError, match=message):
        build("option-critic", {**TINY, **change})


def test_named_experiments_build():
    for name in ("option-critic", "option-critic-full"):
        kind, values = get_experiment(name)
        experiment, _ = build(kind, values)
        assert len(experiment.learners) == 3 and experiment.config.trials >= 30
        assert experiment.config.episodes == 2000
        assert experiment.config.switch_after == 1000
