"""The RL^2 experiment (what `jaxmeta run rl2` is) at a tiny size, end to
end: every method of both problems evaluated on the same tasks, its files,
a resume from a mid-training checkpoint equal to the uninterrupted run, the
paper's numbers beside ours, and bad configs refused before compiling."""

import csv
import os
import shutil

import pytest

from jaxmeta.run import driver
from jaxmeta.run.catalog import get_experiment, resume_run, start_run
from jaxmeta.run.rl2 import RL2Experiment
from jaxmeta.run.rl2_config import RL2Config
from jaxmeta.run.rl2_report import paper_value

TINY = {"num_envs": 4, "num_steps": 5, "hidden": 8, "num_epochs": 1}
BANDIT = {
    "label": "bandit-k2-n3",
    "problem": "bandit",
    "arms": 2,
    "episodes": 3,
    "updates": 3,
    "chunks": 3,
    "seeds": 2,
    "learner": TINY,
}
MDP = {
    "label": "mdp-n2",
    "problem": "mdp",
    "states": 2,
    "actions": 2,
    "horizon": 2,
    "episodes": 2,
    "updates": 2,
    "chunks": 1,
    "learner": TINY,
}
GRIDS = dict(
    gittins_discounts=[0.9, 0.99],
    ucb_scales=[0.1, 1.0],
    q_learning_rates=[0.5],
    q_epsilons=[0.1],
)
FILES = ("results.csv", "curves.csv")


def _config(**changes):
    values = dict(name="rl2", settings=[BANDIT, MDP], eval_tasks=8, tune_tasks=4)
    return RL2Config(**{**values, **GRIDS, **changes})


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("rl2")
    options = driver.RunOptions(quiet=True, checkpoint_every=2)
    return start_run(RL2Experiment(_config()), str(out), options)


@pytest.mark.long
def test_every_method_is_evaluated_on_the_same_tasks_and_written(reference):
    run_dir, rows = reference
    for name in ("table.md", "curves.png", "episodes.png", "config.json", *FILES):
        assert os.path.isfile(os.path.join(run_dir, name)), name
    methods = {(r["setting"], r["method"]) for r in rows}
    for method in ("random", "greedy", "epsilon-greedy", "ucb1", "thompson",
                   "gittins", "rl2", "rl2-greedy"):  # fmt: skip
        assert ("bandit-k2-n3", method) in methods
    for method in ("random", "greedy", "epsilon-greedy", "q-learning", "psrl",
                   "rl2", "rl2-greedy"):  # fmt: skip
        assert ("mdp-n2", method) in methods
    assert len(rows) == len(_rows(os.path.join(run_dir, "results.csv"))) == 15
    for row in rows:
        assert row["tasks"] == 8 and row["failed_seeds"] == 0
        if row["problem"] == "bandit":  # 3 pulls paying 0 or 1 each
            assert 0.0 <= row["mean"] <= 3.0
    chosen = {r["method"]: r["choice"] for r in rows if r["setting"] == "bandit-k2-n3"}
    assert chosen["ucb1"] in ("c=0.1", "c=1") and chosen["greedy"] == ""
    assert chosen["gittins"].startswith("discount=")
    # Two seeds x 3 updates, then one seed x 2 updates.
    curves = _rows(os.path.join(run_dir, "curves.csv"))
    assert [(r["setting"], r["seed"]) for r in curves].count(("bandit-k2-n3", "1")) == 3
    assert len(curves) == 2 * 3 + 2
    table = open(os.path.join(run_dir, "table.md")).read()
    assert "| bandit-k2-n3 |" in table and "| mdp-n2 |" in table


@pytest.mark.long
def test_resume_from_a_mid_training_checkpoint_equals_the_uninterrupted_run(
    reference, tmp_path
):
    reference_dir, _ = reference
    run_dir = str(tmp_path / "resumed")
    shutil.copytree(reference_dir, run_dir)
    checkpoints = os.path.join(run_dir, "checkpoints")
    # Chunks: bandit training x 3, its evaluation, MDP training, evaluation.
    assert sorted(map(int, os.listdir(checkpoints))) == [2, 4, 6]
    for step in (4, 6):  # killed in the middle of the bandit's training
        shutil.rmtree(os.path.join(checkpoints, str(step)))
    resume_run(run_dir, quiet=True)
    for name in FILES:
        with open(os.path.join(reference_dir, name)) as a:
            with open(os.path.join(run_dir, name)) as b:
                assert a.read() == b.read(), name


def test_the_papers_numbers_stand_beside_matching_settings_only():
    spec = {"problem": "bandit", "arms": 50, "episodes": 500}
    assert paper_value(spec, "gittins") == 463.7
    assert paper_value(spec, "rl2") == 438.9
    assert paper_value({**spec, "arms": 2}, "gittins") is None
    mdp = {"problem": "mdp", "states": 10, "actions": 5, "horizon": 10}
    assert paper_value({**mdp, "episodes": 25}, "psrl") == 408.8
    assert paper_value({**mdp, "episodes": 25}, "q-learning") is None
    assert paper_value({**mdp, "episodes": 25, "states": 2}, "psrl") is None


@pytest.mark.parametrize(
    "change, message",
    [
        ({"problem": "cartpole"}, "problem"),
        ({"learner": {"cell": "mlp"}}, r"cell must be one of \['gru', 'lstm'\]"),
        ({"learner": {"num_minibatches": 3}}, "num_minibatches"),
        ({"learner": {"wings": 2}}, "wings"),
        ({"chunks": 2}, "must divide updates"),
        ({"hparams": {"gamma": 1.5}}, "gamma"),
        ({"hparams": {"learning_rat": 0.1}}, "learning_rat"),
        ({"arms": 1}, "arms"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_bad_settings_are_refused_before_compiling(change, message):
    with pytest.raises((ValueError, TypeError), match=message):
        RL2Experiment(_config(settings=[{**BANDIT, **change}]))


def test_bad_grids_and_sizes_are_refused():
    for change, message in (
        ({"epsilons": [1.5]}, "epsilons"),
        ({"gittins_discounts": [1.0]}, "gittins_discounts"),
        ({"eval_tasks": 1}, "eval_tasks"),
        ({"settings": [BANDIT, BANDIT]}, "distinct"),
    ):
        with pytest.raises(ValueError, match=message):
            _config(**change)


def test_the_named_experiments_build():
    for name in ("rl2", "rl2-full"):
        kind, values = get_experiment(name)
        assert kind == "rl2"
        experiment = RL2Experiment(RL2Config.from_dict(values))
        assert experiment.num_chunks == sum(
            s["chunks"] + 1 for s in experiment.config.settings
        )
