"""Population-based training: exploit copies a top member's full state,
explore stays inside the search space, and a PBT run of PPO members is one
program on the driver that writes its lineage."""

import csv
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.control.pbt import PBT
from jaxmeta.envs import make
from jaxmeta.learners import PPO
from jaxmeta.run.pbt import PBTConfig, run_pbt
from jaxmeta.search import LogUniform, SearchSpace, Uniform


def _space():
    env, _ = make("CartPole-v1")
    return SearchSpace(
        PPO(env).default_hparams(),
        learning_rate=LogUniform(1e-4, 1e-2),
        clip_eps=Uniform(0.1, 0.3),
    )


def test_exploit_copies_whole_states_and_explore_stays_in_bounds():
    space, pop = _space(), 8
    pbt = PBT(space, pop, quantile=0.25, resample_probability=0.5)
    hparams = space.to_hparams(space.sample(jax.random.key(0), pop))
    states = {
        "params": jnp.arange(pop * 3.0).reshape(pop, 3),
        "opt": {"count": jnp.arange(pop)},
    }
    fitness = jnp.array([5.0, 1.0, jnp.nan, 7.0, 3.0, 0.5, 9.0, 2.0])
    new_states, new_hparams, state, lineage = jax.jit(pbt.pop_act)(
        jax.random.key(1),
        pbt.init(jax.random.key(2)),
        states,
        hparams,
        {"fitness": fitness},
    )
    parent = np.asarray(lineage["parent"])
    # Bottom 2: the NaN member (2) and the 0.5 member (5); top 2: members 6, 3.
    assert set(np.flatnonzero(parent >= 0)) == {2, 5}
    assert set(parent[parent >= 0]) <= {6, 3}
    for m in range(pop):
        source = parent[m] if parent[m] >= 0 else m
        np.testing.assert_array_equal(new_states["params"][m], states["params"][source])
        assert int(new_states["opt"]["count"][m]) == source
        if parent[m] < 0:
            assert float(new_hparams.learning_rate[m]) == float(
                hparams.learning_rate[m]
            )
    for name, dim in space.dims.items():
        values = np.asarray(getattr(new_hparams, name))
        assert np.all(
            (values >= dim.low * (1 - 1e-6)) & (values <= dim.high * (1 + 1e-6))
        )
    assert int(state.exploits) == 1 and int(state.copies.sum()) == 2


def test_pbt_config_errors():
    space = _space()
    with pytest.raises(ValueError, match=r"quantile must lie in \(0, 0.5\]"):
        PBT(space, 8, quantile=0.7)
    with pytest.raises(ValueError, match="population_size must be an int >= 2"):
        PBT(space, 1)
    with pytest.raises(ValueError, match="resample_probability must lie in"):
        PBT(space, 8, resample_probability=1.5)


@pytest.mark.slow
def test_pbt_run_of_ppo_members_writes_lineage(tmp_path):
    config = PBTConfig(
        name="pbt",
        env="CartPole-v1",
        learner="ppo",
        learner_config=dict(
            num_envs=4, num_steps=32, num_epochs=2, num_minibatches=2, hidden=(16,)
        ),
        dims=dict(
            learning_rate={"kind": "log_uniform", "low": 1e-4, "high": 3e-2},
            clip_eps={"kind": "uniform", "low": 0.1, "high": 0.3},
        ),
        population_size=8,
        num_updates=16,
        chunk_size=4,
        eval_episodes=4,
        eval_max_steps=200,
    )
    run_dir, rows = run_pbt(config, out_root=str(tmp_path))
    assert len(rows) == 8
    with open(os.path.join(run_dir, "lineage.csv")) as f:
        lineage = list(csv.DictReader(f))
    assert len(lineage) == 3 * 2  # 3 exploit steps x 2 bottom members
    assert {"update", "member", "parent", "learning_rate"} <= set(lineage[0])
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        metric_rows = list(csv.DictReader(f))
    assert len(metric_rows) == 8 * 16 and "hp/learning_rate" in metric_rows[0]
    # A copied member trains on with its new hparams.
    copy = lineage[0]
    after = [
        r
        for r in metric_rows
        if r["member"] == copy["member"] and int(r["update"]) == int(copy["update"])
    ]
    assert float(after[0]["hp/learning_rate"]) == pytest.approx(
        float(copy["learning_rate"]), rel=1e-5
    )
    best = json.load(open(os.path.join(run_dir, "best_config.json")))
    assert len(best["schedule"]["learning_rate"]) == 4
    for name in ("lineage.png", "learning_curve.png", "members.csv"):
        assert os.path.getsize(os.path.join(run_dir, name)) > 0
