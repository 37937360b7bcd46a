"""The MAML-initialised row of the episodes-to-target experiment (seeds/000's
MAML row): an env table's `maml` sub-table meta-trains its PPO with MAML over
CartPole tasks, one meta-learner per seed, and the final "maml" group starts
PPO at its defaults from the meta-learned weights; its meta-training is the
row's tuning cost. Bad sub-tables are refused before anything compiles."""

import csv

import jax
import numpy as np
import pytest

from jaxmeta.run import driver
from jaxmeta.run.episodes import META, EpisodesExperiment
from jaxmeta.run.episodes_config import EpisodesConfig
from jaxmeta.run.episodes_maml import with_meta_params
from jaxmeta.run.sharding import population_mesh

PPO_TINY = {
    "num_envs": 2, "num_steps": 16, "hidden": [8], "num_epochs": 1,
    "num_minibatches": 1,
}  # fmt: skip
MAML_TINY = {
    "meta_iterations": 2, "chunks": 2,
    "adapter": {"meta_batch_size": 2, "num_episodes": 2, "horizon": 20},
    "learner_hparams": {"learning_rate": 0.01},
}  # fmt: skip
TINY_ENV = {
    "env": "CartPole-v1", "target": 475.0, "learner": "ppo",
    "learner_config": PPO_TINY,
    "dims": {"learning_rate": {"kind": "log_uniform", "low": 1e-3, "high": 1e-2}},
    "return_bounds": [0.0, 500.0],
    "population_size": 2, "rounds": 1, "num_updates": 2, "chunk_size": 2,
    "eval_episodes": 2, "eval_max_steps": 30,
    "final_env_steps": 64, "final_chunks": 2, "final_eval_episodes": 2,
    "reference": {}, "maml": MAML_TINY,
}  # fmt: skip
SEARCHERS = [{"label": "random", "searcher": "random"}]


def _config(**env):
    return EpisodesConfig(
        name="eps", envs=[{**TINY_ENV, **env}], searchers=SEARCHERS, seeds=2
    )


def test_the_plan_meta_trains_between_tuning_and_final_training():
    experiment = EpisodesExperiment(_config())
    # 2 seeds x 1 tuning chunk, then 2 meta-training chunks, then 2 final.
    assert [w.searcher for w in experiment.plan] == [0, 0, META, META, -1, -1]
    assert [g.name for g in experiment.groups(experiment.parts[0])] == [
        "tuned", "maml"
    ]  # fmt: skip


def test_with_meta_params_replaces_the_first_members_and_pads_with_the_last():
    class State:  # a learner state's params and `replace`, as flax structs
        def __init__(self, params):
            self.params = params

        def replace(self, params):
            return State(params)

    members = {
        "hparams": {"lr": np.zeros(4)},
        "learner": State({"w": np.zeros((4, 3))}),
    }
    meta = {"w": np.arange(6.0).reshape(2, 3)}
    out = with_meta_params(members, meta, 2)
    np.testing.assert_array_equal(out["learner"].params["w"], meta["w"][[0, 1, 1, 1]])
    assert out["hparams"] is members["hparams"]


@pytest.mark.long  # about 60 s (MAML through PPO compiles): `pytest -m long`
def test_maml_row_meta_trains_then_starts_from_the_meta_learned_weights(tmp_path):
    experiment = EpisodesExperiment(_config())
    options = driver.RunOptions(quiet=True, tensorboard=False)
    state, host, _ = driver.run(experiment, str(tmp_path), options)
    rows = [r for r in host["results"] if r["method"] == "maml"]
    assert len(rows) == 2 and all(r["learner"] == "ppo" for r in rows)
    part = experiment.parts[0]
    per_seed = 2 * part.adapter.steps_per_iteration  # 2 meta-iterations
    assert all(r["tuning_env_steps"] == per_seed for r in rows)
    assert all(r["config"] == "defaults from MAML init" for r in rows)
    with open(tmp_path / "maml.csv") as f:
        meta = list(csv.DictReader(f))
    assert len(meta) == 2 * 2  # seeds x meta-iterations
    assert all(np.isfinite(float(m["post_adaptation_return"])) for m in meta)
    table = (tmp_path / "table.md").read_text()
    assert "ppo defaults from MAML init" in table and "3,500" in table

    # The maml group starts from each seed's meta-learned weights, the
    # defaults group from a fresh initialisation.
    mesh = population_mesh()
    groups = {g.name: g for g in experiment.groups(part)}
    population = state["population"]
    meta_params = population["CartPole-v1/maml"].params
    key = jax.random.key(experiment.seed)
    starts = {
        name: experiment._init_group(
            key, groups[name], part, state["shared"], mesh, population
        )["learner"].params
        for name in ("maml", "tuned")
    }
    for start, meta_leaf in zip(
        jax.tree_util.tree_leaves(starts["maml"]),
        jax.tree_util.tree_leaves(meta_params),
        strict=True,
    ):
        np.testing.assert_array_equal(np.asarray(start)[:2], np.asarray(meta_leaf)[:2])
    fresh = np.asarray(jax.tree_util.tree_leaves(starts["tuned"])[0])
    learned = np.asarray(jax.tree_util.tree_leaves(meta_params)[0])
    assert not np.allclose(fresh[-2:], learned[:2])


@pytest.mark.parametrize(
    "env, message",
    [
        ({"learner": "dqn", "learner_config": {}}, "envs\\[0\\].maml: .*on-policy"),
        ({"env": "Acrobot-v1"}, "envs\\[0\\].maml: .*task distribution"),
        ({"maml": {**MAML_TINY, "chunks": 3}}, "multiple of envs\\[0\\].maml.chunks"),
        ({"maml": {**MAML_TINY, "iterations": 3}}, "envs\\[0\\].maml field"),
        ({"maml": {**MAML_TINY, "adapter": {"learner": "ppo"}}}, "cannot set"),
        ({"maml": {**MAML_TINY, "hparams": {"outer_lr": -1.0}}}, "outer_lr"),
    ],
)
def test_bad_maml_tables_are_refused_before_compiling(env, message):
    with pytest.raises(ValueError, match=message):
        EpisodesExperiment(_config(**env))
