"""The generalisation experiment (what `jaxmeta run sam-hrl-hs-transfer` is)
at a tiny size: SAM-HRL-HS meta-trained on CartPole tasks, then searching
Acrobot from the meta-trained networks and from scratch;
the meta-trained networks are the ones the warm searches start from, a
resumed run equals the uninterrupted one across the meta-train / test
boundary, and bad configs are refused before anything compiles."""

import csv
import os
import shutil

import jax
import numpy as np
import pytest

from jaxmeta.envs.tasks import MountainCarTasks, task_distribution
from jaxmeta.run import driver
from jaxmeta.run.catalog import build, get_experiment, resume_run, start_run
from jaxmeta.run.transfer_config import SCRATCH_LABEL, WARM_LABEL
from jaxmeta.run.transfer_report import _first_hit

PPO = {"num_envs": 4, "num_steps": 16, "hidden": [8], "num_epochs": 1,
       "num_minibatches": 1}  # fmt: skip
DIMS = {"learning_rate": {"kind": "log_uniform", "low": 1e-3, "high": 1e-2}}
SIZES = {"population_size": 4, "rounds": 2, "num_updates": 4, "chunk_size": 2,
         "eval_episodes": 2, "eval_max_steps": 50}  # fmt: skip
TRAIN = {"env": "CartPole-v1", "tasks": {"masspole": [0.05, 0.2]},
         "learner": "ppo", "learner_config": PPO, "dims": DIMS,
         "return_bounds": [0.0, 500.0], **SIZES}  # fmt: skip
TEST = {"env": "Acrobot-v1", "target": -100.0, "learner": "ppo",
        "learner_config": PPO, "dims": DIMS, "return_bounds": [-500.0, 0.0],
        **SIZES, "final_env_steps": 256, "final_chunks": 2,
        "final_eval_episodes": 2, "reference": {}}  # fmt: skip


def _config(**changes) -> dict:
    values = {"name": "transfer", "train_envs": [TRAIN], "test_envs": [TEST],
              "meta_searches": 2, "seeds": 1, "baselines": []}  # fmt: skip
    return {**values, **changes}


def _csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("transfer")
    experiment, options = build("transfer", _config())
    options = driver.RunOptions(
        quiet=True, tensorboard=False, checkpoint_every=1, keep_checkpoints=100
    )
    run_dir, rows = start_run(experiment, str(root), options)
    return experiment, run_dir, rows


# The end-to-end run takes about a minute (two envs' tune programs and the
# final training compile): `pytest -m long` runs it; the suite keeps the
# warm-start, counting and refusal tests.
@pytest.mark.long
def test_meta_training_then_test_searches_files_and_rows(finished):
    experiment, run_dir, rows = finished
    for name in ("transfer.md", "transfer.csv", "meta_training.csv",
                 "meta_training.png", "meta_trials.csv", "table.md",
                 "results.csv", "trials.csv"):  # fmt: skip
        assert os.path.isfile(os.path.join(run_dir, name)), name
    meta = _csv(os.path.join(run_dir, "meta_training.csv"))
    assert [int(r["search"]) for r in meta] == [0, 1]
    assert {r["env"] for r in meta} == {"CartPole-v1"}
    # Each search ran on its own drawn task, inside the declared range.
    masses = [float(r["task"].split("masspole=")[1].split()[0]) for r in meta]
    assert masses[0] != masses[1] and all(0.05 <= m <= 0.2 for m in masses)
    assert len(_csv(os.path.join(run_dir, "meta_trials.csv"))) == 2 * 8
    assert {r["method"] for r in rows} == {WARM_LABEL, SCRATCH_LABEL}
    for row in rows:
        # Evaluation episodes stop at 50 steps, so every trial returns >= -50:
        # the target is reached in the first round (4 trials, 4 members x 4
        # updates x 64 steps), while training episodes (500 steps) are not.
        assert row["trials"] == 8 and row["trials_reached"]
        assert row["trials_to_target"] == 4
        assert row["tuning_env_steps_to_target"] == 1024
        assert not row["train_reached"]
    assert "Acrobot-v1 (unseen)" in experiment.summary(rows)


def test_warm_searches_start_from_the_meta_trained_networks():
    experiment, _ = build("transfer", _config())
    key, mesh = jax.random.key(3), driver.population_mesh()
    state = experiment.init(key, mesh)
    fresh = state["shared"]["policy"]["params"]
    trained = jax.tree_util.tree_map(lambda x: x + 1.0, fresh)
    view = {"population": state["population"]["test"],
            "shared": {**state["shared"]["test"], "policy": trained}}  # fmt: skip
    test = experiment.test
    for j, label in enumerate(s["label"] for s in test.config.searchers[:2]):
        where = next(w for w in test.plan if w.searcher == j)
        sub = test.start_tune(where, test.parts[0].tuners[j], key, view, mesh)
        params = sub["shared"]["searcher"].params
        same = jax.tree_util.tree_map(np.allclose, params, trained)
        assert all(jax.tree_util.tree_leaves(same)) == (label == WARM_LABEL), label


@pytest.mark.long
def test_resume_from_a_mid_run_checkpoint_equals_uninterrupted(finished, tmp_path):
    experiment, run_dir, rows = finished
    copy = str(tmp_path / "resumed")
    shutil.copytree(run_dir, copy)
    checkpoints = os.path.join(copy, "checkpoints")
    # Keep only the checkpoint after the first test chunk: the meta-trained
    # networks must come back from the state, not from the host.
    keep = len(experiment.meta_plan) + 1
    for name in os.listdir(checkpoints):
        if name != str(keep):
            shutil.rmtree(os.path.join(checkpoints, name))
    for name in ("transfer.csv", "meta_training.csv", "transfer.md"):
        os.remove(os.path.join(copy, name))
    _, resumed_rows = resume_run(copy, quiet=True)
    timings = {"seconds", "tuning_seconds"}

    def without_timings(rows):
        return [{k: v for k, v in r.items() if k not in timings} for r in rows]

    for name in ("transfer.csv", "meta_training.csv", "trials.csv", "results.csv"):
        a, b = _csv(os.path.join(run_dir, name)), _csv(os.path.join(copy, name))
        assert without_timings(a) == without_timings(b), name
    assert len(resumed_rows) == len(rows)


def test_first_hit_counts_the_whole_round_that_reached_the_target():
    # Rounds of 2 trials at 100 and 200 env steps; best-so-far per trial.
    curve = [[100, -300.0], [100, -150.0], [200, -90.0], [200, -90.0]]
    assert _first_hit(curve, -100.0) == (4, 200)
    assert _first_hit(curve, -150.0) == (2, 100)
    assert _first_hit(curve, 0.0) == (None, None)
    assert _first_hit([], -1.0) == (None, None)


@pytest.mark.parametrize(
    "changes, match",
    [
        (
            {"train_envs": [{**TRAIN, "env": "Taxi-v3"}]},
            "env with a task distribution 'Taxi-v3'",
        ),
        (
            {"train_envs": [{**TRAIN, "tasks": {"gravity": [9.0, 10.0]}}]},
            "task distribution has ranges",
        ),
        (
            {"train_envs": [{**TRAIN, "tasks": {"masspole": [0.5, 0.1]}}]},
            "masspole needs low <= high",
        ),
        (
            {
                "test_envs": [
                    {
                        **TEST,
                        "dims": {"gamma": {"kind": "logit", "low": 0.9, "high": 0.99}},
                    }
                ]
            },
            r"test_envs\[0\].dims must be the training envs' dims",
        ),
        (
            {"test_envs": [{**TEST, "env": "CartPole-v1", "target": 475.0}]},
            "must be unseen in training",
        ),
        ({"meta_searches": 0}, "meta_searches must be >= 1"),
        ({"baselines": [{"label": WARM_LABEL, "searcher": "random"}]}, "are taken"),
    ],
)
def test_bad_configs_are_refused_before_compiling(changes, match):
    with pytest.raises(ValueError, match=match):
        build("transfer", _config(**changes))


def test_named_experiments_build():
    for name in ("sam-hrl-hs-transfer", "sam-hrl-hs-transfer-full"):
        kind, values = get_experiment(name)
        experiment, _ = build(kind, values)
        assert experiment.num_chunks > len(experiment.meta_plan) > 0


def test_mountain_car_tasks_and_the_task_registry():
    tasks = task_distribution("MountainCar-v0", force=(0.001, 0.002))
    assert isinstance(tasks, MountainCarTasks)
    drawn = jax.vmap(tasks.sample)(jax.random.split(jax.random.key(0), 64))
    assert drawn.force.shape == (64,)
    assert np.all((drawn.force >= 0.001) & (drawn.force <= 0.002))
    assert np.all((drawn.gravity >= 0.002) & (drawn.gravity <= 0.003))
    with pytest.raises(ValueError, match="force must lie in"):
        MountainCarTasks(force=(-1.0, 0.001))
