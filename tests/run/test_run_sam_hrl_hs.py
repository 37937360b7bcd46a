"""The episodes-to-target experiment (what `jaxmeta run sam-hrl-hs` is) at a
tiny size: two searchers (random, successive halving) tune PPO on CartPole,
the configs found train on, episodes to target are counted (censored when
not reached), and the files and table have their columns; bad targets are
refused before anything compiles."""

import csv
import dataclasses
import os

import numpy as np
import pytest

from jaxmeta.run import driver
from jaxmeta.run.catalog import build, get_experiment
from jaxmeta.run.episodes import EpisodesExperiment
from jaxmeta.run.episodes_config import EpisodesConfig
from jaxmeta.run.episodes_report import env_rows

TINY_ENV = {
    "env": "CartPole-v1",
    "target": 475.0,
    "learner": "ppo",
    "learner_config": {
        "num_envs": 4, "num_steps": 16, "hidden": [8], "num_epochs": 1,
        "num_minibatches": 1,
    },
    "dims": {"learning_rate": {"kind": "log_uniform", "low": 1e-3, "high": 1e-2}},
    "return_bounds": [0.0, 500.0],
    "population_size": 4, "rounds": 2, "num_updates": 4, "chunk_size": 2,
    "eval_episodes": 2, "eval_max_steps": 50,
    "final_env_steps": 256, "final_chunks": 2, "final_eval_episodes": 4,
    "reference": {"learner": "reinforce", "learner_config": {
        "num_envs": 4, "num_steps": 16, "hidden": [8]}},
}  # fmt: skip
SEARCHERS = [
    {"label": "random", "searcher": "random"},
    {"label": "sh", "searcher": "successive-halving", "searcher_config": {"eta": 2}},
]
RESULT_COLUMNS = {
    "env", "method", "learner", "seed", "target", "train_reached",
    "train_episodes_to_target", "greedy_reached", "greedy_episodes_to_target",
    "greedy_updates_to_target", "greedy_env_steps_to_target",
    "final_greedy_return", "train_episodes", "final_env_steps",
    "tuned_eval_return", "tuning_env_steps", "tuning_seconds", "failed", "config",
}  # fmt: skip


def _run(tmp_path):
    config = EpisodesConfig(
        name="eps", envs=[TINY_ENV], searchers=SEARCHERS, seeds=2
    )  # fmt: skip
    experiment = EpisodesExperiment(config)
    options = driver.RunOptions(quiet=True, tensorboard=False)
    _, host, _ = driver.run(experiment, str(tmp_path), options)
    return experiment, host


def _csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.mark.long
def test_episodes_to_target_files_table_and_censoring(tmp_path):
    experiment, host = _run(tmp_path)
    rows = host["results"]
    for name in ("table.md", "results.csv", "trials.csv", "best_so_far.png"):
        assert os.path.isfile(tmp_path / name), name
    # 2 searchers + defaults (2 seeds each) and REINFORCE (2 seeds).
    assert len(rows) == 8
    assert {r["method"] for r in rows} == {"random", "sh", "defaults", "reference"}
    assert set(_csv(tmp_path / "results.csv")[0]) == RESULT_COLUMNS
    # 475 over 100 episodes in 256 steps is impossible: censored, never a number.
    assert not any(r["train_reached"] or r["greedy_reached"] for r in rows)
    assert all(np.isnan(r["train_episodes_to_target"]) for r in rows)
    assert all(r["greedy_updates_to_target"] is None for r in rows)
    # Equal budgets: random trains 4 x 2 x 4 updates of 64 steps; successive
    # halving (11 configs at 2 updates, 5 on to 4: 32 member-updates) as many.
    tuned = {r["method"]: r["tuning_env_steps"] for r in rows if r["seed"] == 0}
    assert tuned["random"] == tuned["sh"] == 2048
    assert tuned["defaults"] == 0 and tuned["reference"] == 0
    trials = _csv(tmp_path / "trials.csv")
    assert {t["searcher"] for t in trials} == {"random", "sh"}
    assert len([t for t in trials if t["searcher"] == "random"]) == 2 * 8
    # The config found is the best trial of its run (the last rung for sh).
    for label in ("random", "sh"):
        for seed in range(2):
            mine = [
                t for t in trials if t["searcher"] == label and t["seed"] == str(seed)
            ]
            if label == "sh":
                mine = [t for t in mine if t["budget_updates"] == "4"]
            best = max(float(t["eval_return"]) for t in mine)
            found = host["found"][f"CartPole-v1/{label}/{seed}"]["eval_return"]
            assert found == pytest.approx(best, rel=1e-6)
    table = (tmp_path / "table.md").read_text()
    for text in ("train: reached", "greedy: reached", "tuning env steps",
                 "| 0/2 |", "not reached", "seeds/000 on CartPole", "1,800",
                 "5,800", "reinforce defaults"):  # fmt: skip
        assert text in table, text

    # The same training counted against a target every episode reaches.
    part = experiment.parts[0]
    easy = dataclasses.replace(part, spec={**part.spec, "target": 5.0, "window": 1})
    rows = env_rows(experiment, easy, host["final"]["CartPole-v1"], host)
    assert all(r["train_reached"] and r["greedy_reached"] for r in rows)
    assert all(1 <= r["train_episodes_to_target"] <= r["train_episodes"] for r in rows)
    assert all(r["greedy_updates_to_target"] == 2 for r in rows)


@pytest.mark.parametrize(
    "env, target, message",
    [
        ("CartPole-v1", 600.0, "at most 500"),
        ("MountainCar-v0", 10.0, "at most -1"),
        ("CartPole-v1", float("inf"), "must be finite"),
    ],
)
def test_unreachable_targets_are_refused_before_compiling(env, target, message):
    config = EpisodesConfig(
        name="eps", envs=[{**TINY_ENV, "env": env, "target": target}],
        searchers=SEARCHERS,
    )  # fmt: skip
    with pytest.raises(ValueError, match=message):
        EpisodesExperiment(config)


def test_bad_tables_are_refused_and_the_catalog_entry_builds():
    with pytest.raises(ValueError, match="envs\\[0\\] needs target"):
        EpisodesConfig(
            name="e",
            envs=[{k: v for k, v in TINY_ENV.items() if k != "target"}],
            searchers=SEARCHERS,
        )
    with pytest.raises(ValueError, match="searcher labels must be distinct"):
        EpisodesConfig(name="e", envs=[TINY_ENV], searchers=SEARCHERS * 2)
    kind, values = get_experiment("sam-hrl-hs")
    experiment, _ = build(kind, values)
    assert [p.spec["env"] for p in experiment.parts] == [
        "CartPole-v1", "MountainCar-v0", "LunarLander-v3"
    ]  # fmt: skip
    assert experiment.config.seeds >= 2 and len(experiment.config.searchers) == 6


@pytest.mark.slow
def test_resume_from_a_checkpoint_inside_a_tuning_run_gives_the_same_results(
    tmp_path,
):
    import shutil

    from jaxmeta.run.catalog import resume_run, start_run

    config = EpisodesConfig(name="eps", envs=[TINY_ENV], searchers=SEARCHERS, seeds=2)
    options = driver.RunOptions(
        quiet=True, tensorboard=False, checkpoint_every=5, keep_checkpoints=10
    )
    run_dir, rows = start_run(EpisodesExperiment(config), str(tmp_path), options)
    copy = run_dir + "-copy"
    shutil.copytree(run_dir, copy)
    # Chunk 5 is inside random search's second tuning run.
    for name in os.listdir(os.path.join(copy, "checkpoints")):
        if name != "5":
            shutil.rmtree(os.path.join(copy, "checkpoints", name))
    _, resumed = resume_run(copy, quiet=True)

    def drop(rows):  # wall seconds differ between the runs, nothing else
        return str(
            [{k: v for k, v in r.items() if k != "tuning_seconds"} for r in rows]
        )

    assert drop(resumed) == drop(rows)
    with (
        open(os.path.join(run_dir, "trials.csv")) as a,
        open(os.path.join(copy, "trials.csv")) as b,
    ):
        assert a.read() == b.read()
