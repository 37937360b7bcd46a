"""Failures count as failures: 104 injected members in four vmapped populations
(NaN reward or observation from a wrapped env at a random step, infinite
parameters, learning rate 1e3) are all flagged with their reason and update,
nothing crashes, and every clean member equals its run without the injected
neighbours. A tuning run scores and reports its diverged members as failed."""

import csv
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.envs import make
from jaxmeta.envs.faults import NAN_OBS, NAN_REWARD, NO_FAULT, FaultInjection
from jaxmeta.learners import PPO, Reinforce
from jaxmeta.learners.base import (
    FAILURE_ENV,
    FAILURE_LOSS,
    FAILURE_NONE,
    FAILURE_PARAMS,
    FAILURE_REASONS,
)
from jaxmeta.run import driver
from jaxmeta.run.population_training import PopulationTraining
from jaxmeta.run.tune import TuneConfig, run_tune
from jaxmeta.search import LogUniform

NUM_UPDATES, CHUNK = 6, 3


class InfParamsAtInit(PopulationTraining):
    """A population whose members in `broken` start with infinite parameters."""

    def __init__(self, *args, broken=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.broken = np.zeros(self.population_size, bool)
        self.broken[list(broken)] = True

    def init(self, key, mesh):
        state = super().init(key, mesh)
        learner = state["population"]["learner"]
        size = self.broken.size
        bad = jnp.asarray(self.broken)

        def poison(x):
            if x.shape[0] != size:
                return x
            mask = bad.reshape((size,) + (1,) * (x.ndim - 1))
            return jnp.where(mask, jnp.inf, x)

        params = jax.tree_util.tree_map(poison, learner.params)
        state["population"]["learner"] = learner.replace(params=params)
        return state


def _train(learner, hparams, tasks, per_member, keys, broken=()):
    experiment = InfParamsAtInit(
        learner, hparams, tasks, NUM_UPDATES, CHUNK, per_member, broken=broken
    )
    state, _, _ = driver.run(experiment, None, driver.RunOptions(quiet=True), key=keys)
    metrics = {
        k: np.concatenate([c[k] for c in experiment.chunks], axis=1)
        for k in experiment.chunks[0]
    }
    failure = driver.to_host(state["population"]["failure"])
    pop = experiment.population_size
    params = driver.to_host(state["population"]["learner"].params)
    return metrics, failure["code"][:pop], failure["update"][:pop], params


def _hparams(learner, rates):
    base = learner.default_hparams()
    hp = jax.tree_util.tree_map(lambda x: jnp.full((len(rates),), x), base)
    return hp.replace(learning_rate=jnp.asarray(rates, jnp.float32))


def _select(tree, index):
    return jax.tree_util.tree_map(lambda x: x[np.asarray(index)], tree)


def _check_population(learner, tasks, kinds, rates, per_member):
    """kinds: per member "clean", "reward", "obs", "inf", "lr" or "big_rate"."""
    kinds = np.asarray(kinds)
    broken = np.flatnonzero(kinds == "inf")
    hparams = _hparams(learner, rates)
    keys = jax.random.split(jax.random.key(7), kinds.size)
    metrics, code, update, params = _train(
        learner, hparams, tasks, per_member, keys, broken
    )
    expected = {
        "big_rate": FAILURE_NONE,
        "reward": FAILURE_ENV,
        "obs": FAILURE_ENV,
        "inf": FAILURE_PARAMS,
        "lr": FAILURE_LOSS,
        "clean": FAILURE_NONE,
    }
    for i, kind in enumerate(kinds):
        assert code[i] == expected[kind], (i, kind, code[i], FAILURE_REASONS[code[i]])
        if expected[kind] != FAILURE_NONE:
            assert 0 <= update[i] < NUM_UPDATES
            assert metrics["train/diverged"][i, update[i]] == 1.0
            assert metrics["train/failure"][i, update[i]] == code[i]
    # Adam's steps are bounded by the rate: 1e3 on a discrete policy stays
    # finite, so it is not a failure (its return scores it).
    for leaf in jax.tree_util.tree_leaves(params):
        assert np.all(np.isfinite(leaf[kinds == "big_rate"]))
    # Every clean member equals its run without the injected neighbours.
    clean = np.flatnonzero(kinds == "clean")
    alone_tasks = _select(tasks, clean) if per_member else tasks
    alone, alone_code, _, alone_params = _train(
        learner, _select(hparams, clean), alone_tasks, per_member, keys[clean]
    )
    np.testing.assert_array_equal(alone_code, FAILURE_NONE)
    for name in ("episode_return", "train/value_loss", "env_steps"):
        np.testing.assert_allclose(
            metrics[name][clean], alone[name], rtol=1e-6, atol=1e-6, err_msg=name
        )
    for a, b in zip(
        jax.tree_util.tree_leaves(params),
        jax.tree_util.tree_leaves(alone_params),
        strict=True,
    ):
        np.testing.assert_allclose(a[clean], b, rtol=1e-6, atol=1e-6)
    return int(np.sum(~np.isin(kinds, ["clean", "big_rate"])))


def _faulty_cartpole_population(learner_cls, config, seed):
    base_env, _ = make("CartPole-v1")
    env = FaultInjection(base_env)
    learner = learner_cls(env, **config)
    rng = np.random.default_rng(seed)
    kinds = np.array(
        ["reward"] * 16 + ["obs"] * 16 + ["inf"] * 8 + ["clean"] * 8 + ["big_rate"] * 4
    )
    rng.shuffle(kinds)
    steps_per_env = NUM_UPDATES * learner.num_steps
    fault_step = np.where(
        np.isin(kinds, ["reward", "obs"]),
        rng.integers(1, steps_per_env, kinds.size),
        -1,
    )
    fault_kind = np.select(
        [kinds == "reward", kinds == "obs"], [NAN_REWARD, NAN_OBS], NO_FAULT
    )
    tasks = env.params_with_fault(fault_step, fault_kind)
    tasks = tasks.replace(
        env=jax.tree_util.tree_map(lambda x: jnp.stack([x] * kinds.size), tasks.env)
    )
    rates = np.where(kinds == "big_rate", 1e3, rng.uniform(1e-3, 1e-2, kinds.size))
    return learner, tasks, kinds, rates


def test_104_injected_members_flagged_and_clean_members_untouched():
    injected = 0
    tiny_ppo = dict(
        num_envs=2, num_steps=8, num_epochs=1, num_minibatches=1, hidden=(8,)
    )
    tiny_reinforce = dict(num_envs=2, num_steps=8, hidden=(8,))
    for cls, config, seed in ((PPO, tiny_ppo, 0), (Reinforce, tiny_reinforce, 1)):
        learner, tasks, kinds, rates = _faulty_cartpole_population(cls, config, seed)
        injected += _check_population(learner, tasks, kinds, rates, True)
    # Learning rate 1e3 on Pendulum: Adam's first steps blow the Gaussian's
    # log-std up and the loss goes non-finite.
    env, env_params = make("Pendulum-v1")
    for cls, config in ((PPO, tiny_ppo), (Reinforce, tiny_reinforce)):
        learner = cls(env, **config)
        kinds = np.array(["lr"] * 12 + ["clean"] * 4)
        np.random.default_rng(2).shuffle(kinds)
        rates = np.where(kinds == "lr", 1e3, 3e-3)
        injected += _check_population(learner, env_params, kinds, rates, False)
    assert injected >= 100, injected


@pytest.mark.slow
def test_tune_reports_diverged_members_as_failed_and_scores_them_lowest(tmp_path):
    config = TuneConfig(
        name="diverge",
        env="Pendulum-v1",
        learner="ppo",
        learner_config=dict(
            num_envs=2, num_steps=8, num_epochs=1, num_minibatches=1, hidden=(8,)
        ),
        dims=dict(learning_rate=LogUniform(1e-4, 1e3)),
        searcher="random",
        population_size=8,
        rounds=2,
        num_updates=4,
        chunk_size=2,
        eval_episodes=2,
        eval_max_steps=20,
    )
    run_dir, rows = run_tune(config, out_root=str(tmp_path), quiet=True)
    failed = [r for r in rows if r["failed"]]
    ok = [r for r in rows if not r["failed"]]
    assert failed and ok, [(r["learning_rate"], r["failed"]) for r in rows]
    assert all(r["learning_rate"] > 1.0 for r in failed)
    for row in failed:
        assert row["failure"] == FAILURE_REASONS[FAILURE_LOSS]
        assert 0 <= row["failed_at_update"] < 4
        assert row["hyperscore"] == 100.0 and np.isnan(row["told_score"])
    assert min(r["hyperscore"] for r in ok) >= 100.0
    best = json.load(open(os.path.join(run_dir, "best_config.json")))
    assert best["failed"] is False
    with open(os.path.join(run_dir, "members.csv")) as f:
        table = list(csv.DictReader(f))
    assert sum(r["failed"] == "True" for r in table) == len(failed)
    assert {r["failure"] for r in table if r["failed"] == "True"} == {
        FAILURE_REASONS[FAILURE_LOSS]
    }
