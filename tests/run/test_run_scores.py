"""Scores that compare across rounds and keep the order of the returns."""

import csv
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.envs import make
from jaxmeta.learners import PPO
from jaxmeta.run import tune_report
from jaxmeta.run.tune import TuneConfig, TuneExperiment, run_tune, score_round
from jaxmeta.score import hyper_score, hyper_score_log_excess
from jaxmeta.search import BayesSearch, LogUniform, RandomSearch, SearchSpace


def _two_rounds(searcher):
    """Rounds {50, 100} then {480, 500} through `score_round`, bounds None."""
    key = jax.random.key(0)
    meta = searcher.default_meta_params()
    shared = {
        "searcher": searcher.init(key, meta),
        "history": {
            "z": jnp.zeros((4, 1)),
            "returns": jnp.full(4, jnp.nan),
            "mask": jnp.zeros(4, bool),
        },
    }
    rows = []
    for r, returns in enumerate(([50.0, 100.0], [480.0, 500.0])):
        hparams, state = searcher.ask(key, shared["searcher"], meta)
        shared = {**shared, "searcher": state}
        shared, out = score_round(
            searcher,
            None,
            key,
            hparams,
            jnp.asarray(returns),
            jnp.zeros(2, bool),
            jnp.ones(2, bool),
            shared,
            meta,
            r,
        )
        for m, value in enumerate(returns):
            rows.append(
                {
                    "round": r,
                    "member": m,
                    "eval_return": value,
                    "failed": False,
                    "hyperscore": float(out["hyperscore"][m]),
                    "told_score": float(out["told_score"][m]),
                }
            )
    return shared, rows


class _Config:
    return_bounds = None


class _Experiment:
    config = _Config()


@pytest.mark.parametrize("cls", [BayesSearch, RandomSearch])
def test_a_return_of_480_ranks_above_100_whatever_round(cls):
    env, _ = make("CartPole-v1")
    space = SearchSpace(
        PPO(env).default_hparams(), learning_rate=LogUniform(1e-4, 1e-2)
    )
    searcher = cls(space, 2)
    shared, rows = _two_rounds(searcher)
    # Round 1 alone made 100 the maximum (V = 1); over both rounds it is not.
    assert rows[1]["hyperscore"] > 190.0
    tune_report.rescore_rows(_Experiment(), rows)
    by_return = {row["eval_return"]: row for row in rows}
    assert by_return[480.0]["hyperscore"] > by_return[100.0]["hyperscore"]
    assert by_return[480.0]["told_score"] > by_return[100.0]["told_score"]
    best = tune_report.best_rows(rows, 4)
    assert [row["eval_return"] for row in best] == [500.0, 480.0, 100.0, 50.0]
    state = shared["searcher"]
    assert float(state.best_score) == pytest.approx(rows[3]["told_score"], rel=1e-6)
    if cls is BayesSearch:
        # The GP's observations, best first: every told score from the latest
        # normalisation, so 480 sits above 100.
        stored = np.asarray(state.scores)[np.asarray(state.mask)]
        expected = hyper_score_log_excess(np.array([500.0, 480.0, 100.0, 50.0]))
        np.testing.assert_allclose(stored, expected, rtol=1e-6)


def test_told_scores_are_strictly_monotone_where_the_hyperscore_is_flat():
    returns = np.array([62.2, 29.0, 9.0], np.float32)
    display = np.asarray(hyper_score(returns, 0.0, 500.0))
    np.testing.assert_allclose(display, 100.0, atol=1e-3)  # flat for a searcher
    told = np.asarray(hyper_score_log_excess(returns, 0.0, 500.0))
    assert told[0] > told[1] > told[2]
    rng = np.random.default_rng(0)
    many = np.unique(rng.uniform(-200.0, 700.0, 500).astype(np.float32))
    for bounds in ((0.0, 500.0), (None, None)):
        told = np.asarray(hyper_score_log_excess(many, *bounds))
        assert np.all(np.isfinite(told))
        assert np.all(np.diff(told) > 0), bounds
    assert np.isnan(hyper_score_log_excess(np.array([1.0, np.nan]))[1])


def _grid_config(**overrides):
    values = dict(
        name="grid",
        env="CartPole-v1",
        learner="ppo",
        learner_config=dict(
            num_envs=2, num_steps=8, num_epochs=1, num_minibatches=1, hidden=(8,)
        ),
        dims=dict(learning_rate=LogUniform(1e-3, 3e-2)),
        searcher="grid",
        searcher_config=dict(points_per_dim=5),
        population_size=2,
        rounds=3,
        num_updates=4,
        chunk_size=2,
        eval_episodes=4,
        eval_max_steps=200,
        return_bounds=(0.0, 200.0),
    )
    values.update(overrides)
    return TuneConfig(**values)


def test_a_grid_larger_than_the_budget_warns():
    with pytest.warns(
        UserWarning, match="grid has 5 points but rounds x population_size = 4 trials"
    ):
        TuneExperiment(_grid_config(rounds=2))


@pytest.mark.slow
def test_grid_padding_is_not_reported_and_told_scores_follow_returns(tmp_path):
    run_dir, rows = run_tune(_grid_config(), out_root=str(tmp_path), quiet=True)
    # 5 grid points over 3 rounds of 2: the sixth slot is padding.
    assert len(rows) == 5
    rates = sorted(row["learning_rate"] for row in rows)
    np.testing.assert_allclose(rates, np.geomspace(1e-3, 3e-2, 5), rtol=1e-5)
    with open(os.path.join(run_dir, "members.csv")) as f:
        assert len(list(csv.DictReader(f))) == 5
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        metric_rows = list(csv.DictReader(f))
    assert len(metric_rows) == 5 * 4
    assert ("2", "1") not in {(r["round"], r["member"]) for r in metric_rows}
    order = sorted(rows, key=lambda r: r["eval_return"])
    for low, high in zip(order, order[1:], strict=False):
        if high["eval_return"] > low["eval_return"]:
            assert high["told_score"] > low["told_score"]
