"""Control of the ES learner: BiERL's LSTM sets ES's sigma per generation
inside [0.02, 0.08] while meta-training, and PBT explores sigma over ES
members; each trains CartPole and improves on its start (slow)."""

import jax
import numpy as np
import pytest

from jaxmeta.control.bierl import BiERL
from jaxmeta.control.lstm import BiERLController
from jaxmeta.control.pbt import PBT, PBTLearner
from jaxmeta.envs import make
from jaxmeta.learners import ES, hparams_with, train
from jaxmeta.search import LogUniform, SearchSpace

single_train = jax.jit(train, static_argnums=(0, 4))
POPULATION = 16


def _es():
    env, env_params = make("CartPole-v1")
    es = ES(env, population_size=POPULATION, max_episode_steps=200, hidden=(16,))
    return es, env_params


@pytest.mark.slow
def test_bierl_sets_es_sigma_in_its_range_and_improves():
    es, env_params = _es()
    bierl = BiERL(
        es,
        BiERLController(num_features=POPULATION),
        meta_population=8,
        meta_every=5,
        truncation=1,
    )
    hparams = bierl.default_hparams()
    hparams = hparams.replace(inner=hparams_with(hparams.inner, learning_rate=0.03))
    _, metrics = single_train(bierl, jax.random.key(0), hparams, env_params, 6)
    sigma = np.asarray(metrics["bierl/sigma"])
    assert sigma.shape == (6, 5)
    assert np.all((sigma >= 0.02) & (sigma <= 0.08)), sigma
    assert np.ptp(sigma) > 0  # the controller's output moves as the returns do
    returns = np.asarray(metrics["episode_return"])
    assert returns[-1] > 2.0 * returns[0] and returns[-1] > 100.0, returns


@pytest.mark.slow
def test_pbt_explores_es_sigma_and_improves():
    es, env_params = _es()
    base = hparams_with(es.default_hparams(), learning_rate=0.03)
    space = SearchSpace(base, sigma=LogUniform(0.005, 0.2))
    learner = PBTLearner(es, PBT(space, 4, quantile=0.25), interval=5)
    state, metrics = single_train(learner, jax.random.key(0), base, env_params, 20)
    sigmas = np.asarray(state.hparams.sigma)
    assert np.all((sigmas >= 0.005) & (sigmas <= 0.2)), sigmas
    assert float(np.sum(metrics["pbt/copies"])) == 4.0  # 4 exploit steps, 1 copy each
    best_sigma = np.asarray(metrics["pbt/sigma"])
    assert len(set(np.round(best_sigma, 6))) > 1  # explored, not fixed
    returns = np.asarray(metrics["episode_return"])
    assert returns[-3:].mean() > 2.0 * returns[:3].mean(), returns


def test_pbt_copies_a_sac_members_whole_state_replay_buffer_included():
    from jaxmeta.learners import SAC

    env, env_params = make("Pendulum-v1")
    sac = SAC(
        env,
        num_envs=1,
        num_steps=16,
        buffer_capacity=64,
        batch_size=8,
        learning_starts=0,
        hidden=(8,),
    )
    space = SearchSpace(sac.default_hparams(), learning_rate=LogUniform(1e-4, 1e-2))
    learner = PBTLearner(sac, PBT(space, 2, quantile=0.5), interval=2)
    state, metrics = single_train(
        learner, jax.random.key(0), sac.default_hparams(), env_params, 2
    )
    assert float(metrics["pbt/copies"][-1]) == 1.0
    members = state.members
    # Both slots now hold the winner's state: same params and same buffer.
    for leaf in jax.tree_util.tree_leaves((members.params, members.buffer)):
        np.testing.assert_array_equal(leaf[0], leaf[1])
