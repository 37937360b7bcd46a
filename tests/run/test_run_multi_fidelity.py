"""Successive halving and Hyperband on the run driver: survivors continue
exactly as if never compacted, the best are promoted, a diverging member is
dropped and reported, every program compiles once per rung size, a resumed
run equals the uninterrupted one, and bad schedules fail before compiling.

Pendulum with learning rates up to 1e3: the largest rates go non-finite
under Adam within a few updates (tests/run/test_run_failures.py)."""

import csv
import os
import re
import shutil
import tomllib

import jax
import numpy as np
import pytest

from jaxmeta.cli import main
from jaxmeta.learners.base import FAILURE_LOSS, FAILURE_REASONS
from jaxmeta.run import driver, population
from jaxmeta.run import multi_fidelity_programs as programs
from jaxmeta.run.catalog import build
from jaxmeta.run.config import load_config_file
from jaxmeta.run.multi_fidelity import MultiFidelityExperiment, slot_name
from jaxmeta.run.multi_fidelity_report import failure_lines
from jaxmeta.run.population import train_population
from jaxmeta.run.tune import TuneConfig

# Every jitted program of a multi-fidelity run, by name.
PROGRAMS = {
    "begin_bracket": programs.begin_jit,
    "train_chunk": population._chunk_jit,
    "score_rung": programs.score_jit,
    "compact_rung": programs.compact_jit,
    "tell_bracket": programs.tell_jit,
}


def _compiled():
    """How many programs each jitted function holds compiled."""
    return {name: f._cache_size() for name, f in PROGRAMS.items()}


CONFIG = """
name = "halving"
env = "Pendulum-v1"
learner = "ppo"
searcher = "successive-halving"
population_size = 4
rounds = 1
num_updates = 8
chunk_size = 2
eval_episodes = 2
eval_max_steps = 20
seed = 1
[learner_config]
num_envs = 2
num_steps = 8
num_epochs = 1
num_minibatches = 1
hidden = [8]
[searcher_config]
eta = 2
min_budget = 4
[dims]
learning_rate = { kind = "log_uniform", low = 1e-3, high = 1e3 }
"""


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("config") / "halving.toml"
    path.write_text(CONFIG)
    return str(path)


@pytest.fixture(scope="module")
def halving():
    """Successive halving 4 -> 2 members at 4 and 8 updates, in memory."""
    jax.clear_caches()
    experiment = MultiFidelityExperiment(TuneConfig.from_dict(tomllib.loads(CONFIG)))
    options = driver.RunOptions(quiet=True)
    state, host, _ = driver.run(experiment, None, options)
    return experiment, state, host, _compiled()


def test_one_compile_per_rung_size(halving):
    experiment, _, _, compiled = halving
    assert experiment.sizes(driver.population_mesh()) == [4, 2]
    # 4 chunks (2 + 2) and 2 rungs: one program per size, not per chunk.
    assert experiment.num_chunks == 4
    assert compiled == {
        "begin_bracket": 1,
        "train_chunk": 2,
        "score_rung": 2,
        "compact_rung": 1,
        "tell_bracket": 1,
    }, compiled


def test_survivors_equal_uninterrupted_training(halving):
    experiment, state, _, _ = halving
    c = experiment.config
    _, key_train, _, _ = experiment.keys(jax.random.key(c.seed), 0, 0)
    population = driver.to_host(state["population"])
    hparams = population[slot_name(4)]["hparams"]  # the first rung: everyone
    for rung in experiment.brackets[0]:
        # Every member trained to the rung's budget in one population of 4,
        # never compacted; the rung's members are rows of it.
        alone, _, _ = train_population(
            experiment.learner, key_train, hparams, experiment.env_params,
            rung.budget, c.chunk_size,
        )  # fmt: skip
        slot = population[slot_name(rung.members)]
        np.testing.assert_array_equal(slot["learner"].update_count, rung.budget)
        # Bit for bit. (XLA compiles a population of one with its axis
        # squeezed, so a rung of one member would match to ~1e-6 only, as a
        # lone member matches itself in any batch.)
        for a, b in zip(
            jax.tree_util.tree_leaves(slot["learner"]),
            jax.tree_util.tree_leaves(driver.to_host(alone)),
            strict=True,
        ):
            np.testing.assert_array_equal(a, b[slot["member"]])


def test_the_best_are_promoted_and_a_diverging_member_is_dropped(halving):
    experiment, _, host, _ = halving
    rows = host["members"]
    rungs = experiment.brackets[0]
    for i, rung in enumerate(rungs):
        here = [r for r in rows if r["rung"] == i]
        assert len(here) == rung.members and {r["budget"] for r in here} == {
            rung.budget
        }
        healthy = sorted(
            (r for r in here if not r["failed"]), key=lambda r: -r["eval_return"]
        )
        best = {r["member"] for r in healthy[: rung.keep]}
        assert {r["member"] for r in here if r["promoted"]} == best
        if i + 1 < len(rungs):
            assert {r["member"] for r in rows if r["rung"] == i + 1} == best
    # Seed 1 draws two learning rates above 100: both fail at update 1 of
    # rung 0, are reported with their reason and never promoted.
    failed = [r for r in rows if r["failed"]]
    assert len(failed) == 2 and all(r["learning_rate"] > 100 for r in failed)
    for row in failed:
        assert row["failure"] == FAILURE_REASONS[FAILURE_LOSS]
        assert row["failed_at_update"] == 1 and not row["promoted"]
        assert row["rung"] == 0 and row["hyperscore"] == 100.0
    line = failure_lines(experiment, experiment.plan[0], rows[:4])[0]
    assert "2 member(s) failed" in line and "dropped" in line, line
    best = max((r for r in rows if r["rung"] == 1), key=lambda r: r["eval_return"])
    assert host["best_eval"] == best["eval_return"]


FILES = ("metrics.csv", "members.csv", "best_config.json")


@pytest.fixture(scope="module")
def hyperband(tmp_path_factory, config_file, halving):
    out = tmp_path_factory.mktemp("hyperband")
    before = _compiled()
    sets = ("searcher=hyperband", "name=hyperband", "run.checkpoint_every=3")
    argv = ["tune", config_file, "--out", str(out), "--quiet"]
    assert main([*argv, *(a for s in sets for a in ("--set", s))]) == 0
    (run_dir,) = [os.path.join(out, d) for d in os.listdir(out)]
    after = _compiled()
    return run_dir, {name: after[name] - before[name] for name in after}


def test_hyperband_runs_its_brackets_from_the_cli(hyperband, halving):
    run_dir, compiled = hyperband
    with open(os.path.join(run_dir, "members.csv")) as f:
        rows = list(csv.DictReader(f))
    counts = {}
    for row in rows:
        key = (int(row["bracket"]), int(row["rung"]), int(row["budget"]))
        counts[key] = counts.get(key, 0) + 1
    assert counts == {(0, 0, 4): 4, (0, 1, 8): 2, (1, 0, 8): 4}
    # Hyperband's first bracket is the successive halving of the same seed.
    _, _, host, _ = halving
    first = [r for r in rows if r["bracket"] == "0"]
    np.testing.assert_allclose(
        [float(r["eval_return"]) for r in first],
        [r["eval_return"] for r in host["members"]],
        rtol=1e-7,
    )
    # 8 chunks, 3 rungs over the sizes of the successive halving: nothing new.
    assert compiled["train_chunk"] == compiled["score_rung"] == 0, compiled
    for name in (*FILES, "learning_curve.png", "config.json"):
        assert os.path.getsize(os.path.join(run_dir, name)) > 0, name


def test_resume_mid_run_equals_uninterrupted(hyperband, tmp_path):
    reference, _ = hyperband
    run_dir = str(tmp_path / "crashed")
    shutil.copytree(reference, run_dir)
    # A crash whose last checkpoint is 3 (inside the first bracket's second
    # rung, after its compaction; rows of chunks 4-8 are on disk already).
    checkpoints = os.path.join(run_dir, "checkpoints")
    assert sorted(map(int, os.listdir(checkpoints))) == [3, 6, 8]
    for step in os.listdir(checkpoints):
        if int(step) > 3:
            shutil.rmtree(os.path.join(checkpoints, step))
    assert main(["resume", run_dir, "--quiet"]) == 0
    for name in FILES:
        with open(os.path.join(reference, name)) as a:
            with open(os.path.join(run_dir, name)) as b:
                assert a.read() == b.read(), name


BAD = {
    "eta-one": (
        ["searcher_config.eta=1"],
        r"searcher_config.eta must be an int >= 2 \(allowed: 2, 3, 4, ...\)",
    ),
    "eta-float": (["searcher_config.eta=2.5"], r"searcher_config.eta must be an int"),
    "budget-not-power": (
        ["num_updates=12", "searcher_config.min_budget=2"],
        r"does not fit the budget: num_updates must be searcher_config.min_budget "
        r"x eta\^k with k >= 1 .*allowed: 4, 8, 16",
    ),
    "budget-one-rung": (
        ["num_updates=2", "searcher_config.min_budget=2"],
        r"does not fit the budget",
    ),
    "no-default-min-budget": (
        ["searcher_config={eta = 2}", "num_updates=6"],
        r"does not fit the budget: no min_budget",
    ),
    "population-too-small": (
        ["population_size=3", "searcher_config.min_budget=2"],
        r"population_size must be >= eta\^k = 4",
    ),
    "chunk-not-dividing-min-budget": (
        ["searcher_config.min_budget=1", "num_updates=4"],
        r"chunk_size \(2\) must divide searcher_config.min_budget \(1\)",
    ),
    "unknown-option": (
        ["searcher_config.etta=2"],
        r"unknown searcher_config field 'etta'; did you mean 'eta'",
    ),
    "unknown-sampler": (
        ["searcher_config.sampler=hyperband"],
        r"unknown searcher_config.sampler 'hyperband'.*allowed values: .*random",
    ),
    "unknown-searcher": (
        ["searcher=hyperbnd"],
        r"unknown searcher 'hyperbnd'; did you mean 'hyperband'",
    ),
}


if "calibrate_online" in TuneConfig.__dataclass_fields__:
    BAD["calibrate-online"] = (
        ["calibrate_online=true"],
        r"calibrate_online must be false with searcher = 'successive-halving'",
    )


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_fails_before_compiling(case, config_file, tmp_path, capsys):
    sets, message = BAD[case]
    before = _compiled()
    with pytest.raises((ValueError, TypeError), match=message):
        build("tune", tomllib.loads(CONFIG), sets)
    argv = ["tune", config_file, "--out", str(tmp_path / "runs")]
    assert main([*argv, *(a for s in sets for a in ("--set", s))]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and re.search(message, err[0]), err
    assert _compiled() == before


def test_example_config_builds_and_list_names_the_searchers(capsys):
    path = os.path.join(
        os.path.dirname(__file__), "..", "..", "experiments", "hyperband_cartpole.toml"
    )
    experiment, _ = build("tune", load_config_file(path))
    assert isinstance(experiment, MultiFidelityExperiment)
    assert [[(r.members, r.budget) for r in b] for b in experiment.brackets] == [
        [(27, 10), (9, 30), (3, 90)],
        [(14, 30), (4, 90)],
        [(9, 90)],
    ]
    assert main(["list"]) == 0
    assert "successive-halving, hyperband" in capsys.readouterr().out
