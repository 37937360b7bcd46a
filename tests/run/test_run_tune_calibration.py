"""Online HyperScore calibration: the shape moves from the default toward one
that fits the (early, final) pairs, the searcher is told calibrated scores,
and a tiny PPO tune run with SAM-HRL-HS calibrates end to end and
resumes exactly."""

import csv
import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.envs import make
from jaxmeta.learners import PPO
from jaxmeta.run.catalog import resume_run
from jaxmeta.run.driver import RunOptions
from jaxmeta.run.tune import TuneConfig, run_tune
from jaxmeta.run.tune_scores import empty_calibration, score_round
from jaxmeta.score import hyper_score_log_excess
from jaxmeta.score.calibrate import HyperScoreShape, shape_correlation
from jaxmeta.score.calibrate_online import default_shape
from jaxmeta.search import Logit, LogUniform, RandomSearch, SearchSpace

POP = 12


def _pairs(seed):
    """Early V in (0, 1] and a final performance that saturates in it: the
    default shape (midpoint V = 1/2, sharp top) predicts it poorly."""
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.02, 1.0, POP).astype(np.float32)
    final = 500.0 * (1.0 - np.exp(-8.0 * v)) + rng.normal(0, 5.0, POP)
    return v, final.astype(np.float32)


def test_shape_moves_toward_one_that_fits_the_pairs():
    env, _ = make("CartPole-v1")
    space = SearchSpace(
        PPO(env).default_hparams(), learning_rate=LogUniform(1e-4, 1e-2)
    )
    searcher = RandomSearch(space, POP)
    key = jax.random.key(0)
    meta = searcher.default_meta_params()
    shared = {
        "searcher": searcher.init(key, meta),
        "history": {
            "z": jnp.zeros((2 * POP, 1)),
            "returns": jnp.full(2 * POP, jnp.nan),
            "mask": jnp.zeros(2 * POP, bool),
            "early": jnp.full(2 * POP, jnp.nan),
        },
        "calibration": empty_calibration(),
    }
    bounds = (0.0, 500.0)
    vs, finals = [], []
    for r in range(2):
        v, final = _pairs(r)
        hparams, state = searcher.ask(key, shared["searcher"], meta)
        shared, out = score_round(
            searcher, bounds, jax.random.fold_in(key, r), hparams,
            jnp.asarray(final), jnp.zeros(POP, bool), jnp.ones(POP, bool),
            {**shared, "searcher": state}, meta, r, early=jnp.asarray(v * 500.0),
            calibration_rounds=6,
        )  # fmt: skip
        vs.append(v)
        finals.append(final)
    v, final = np.concatenate(vs), np.concatenate(finals)
    calibration = shared["calibration"]
    fitted = HyperScoreShape(
        calibration["beta"], calibration["gamma"], calibration["kappa"]
    )
    keep = np.ones(v.shape, bool)
    r_default = float(shape_correlation(default_shape(), v, final, keep))
    r_fitted = float(shape_correlation(fitted, v, final, keep))
    assert float(calibration["correlation"]) == pytest.approx(r_fitted, abs=1e-5)
    assert r_fitted > r_default + 0.02, (r_fitted, r_default)
    assert abs(float(fitted.gamma) - float(default_shape().gamma)) > 0.1
    # Told and displayed with the calibrated shape; earlier rounds rescored.
    shape = [float(x) for x in out["shape"]]
    expected = hyper_score_log_excess(final[POP:], *bounds, *shape)
    np.testing.assert_allclose(out["told_score"], expected, rtol=1e-5)
    all_told = hyper_score_log_excess(final, *bounds, *shape)
    assert float(shared["searcher"].best_score) == pytest.approx(
        float(np.max(all_told)), rel=1e-5
    )


def _config(**overrides):
    values = dict(
        name="calibrated",
        env="CartPole-v1",
        # test_run_tune's tiny PPO: the training chunk compiles to the same
        # program (shared through the persistent compilation cache).
        learner="ppo",
        learner_config=dict(
            num_envs=2, num_steps=8, num_epochs=1, num_minibatches=1, hidden=(8,)
        ),
        dims=dict(learning_rate=LogUniform(1e-3, 3e-2), gamma=Logit(0.9, 0.999)),
        searcher="sam-hrl-hs",
        searcher_config=dict(manager_hidden=(8, 8), worker_hidden=(8,), history=4),
        population_size=3,
        rounds=2,
        num_updates=4,
        chunk_size=2,
        eval_episodes=2,
        eval_max_steps=20,
        calibrate_online=True,
        calibration_rounds=3,
        seed=1,
    )
    values.update(overrides)
    return TuneConfig(**values)


def _members(run_dir):
    with open(os.path.join(run_dir, "members.csv")) as f:
        return list(csv.DictReader(f))


@pytest.mark.long
def test_tune_with_online_calibration_runs_and_resumes_exactly(tmp_path):
    options = RunOptions(
        checkpoint_every=1, keep_checkpoints=8, tensorboard=False, quiet=True
    )
    config = _config()
    assert TuneConfig.from_dict(config.to_dict()) == config
    run_dir, rows = run_tune(config, out_root=str(tmp_path / "a"), options=options)
    assert len(rows) == 6
    assert all("early_return" in row for row in rows)
    assert all(100.0 <= row["hyperscore"] <= 200.0 for row in rows)
    # The shape of the last round (in the host record) moved from the default
    # and is the one every row is scored with.
    with open(os.path.join(run_dir, "checkpoints", "4", "host", "metadata")) as f:
        shape = json.load(f)["host"]["shape"]
    default = default_shape()
    assert not np.allclose(shape, [default.beta, default.gamma, default.kappa])
    returns = np.array([row["eval_return"] for row in rows], np.float32)
    np.testing.assert_allclose(
        [row["told_score"] for row in rows],
        hyper_score_log_excess(returns, None, None, *shape),
        rtol=1e-5,
    )
    # Resume mid round 2 (after chunk 3 of 4): the round-1 shape and round 2's
    # early returns must come back from the checkpoint.
    copy = str(tmp_path / "b")
    shutil.copytree(run_dir, copy)
    checkpoints = os.path.join(copy, "checkpoints")
    assert "3" in os.listdir(checkpoints)
    for step in os.listdir(checkpoints):
        if step.isdigit() and int(step) > 3:
            shutil.rmtree(os.path.join(checkpoints, step))
    resume_run(copy, quiet=True)
    assert _members(copy) == _members(run_dir)
    for name in ("best_config.json", "metrics.csv"):
        with (
            open(os.path.join(run_dir, name)) as a,
            open(os.path.join(copy, name)) as b,
        ):
            assert a.read() == b.read(), name
