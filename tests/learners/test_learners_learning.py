"""Learning checks: real thresholds on CartPole-v1 (slow)."""

import jax
import numpy as np
import pytest

from jaxmeta.envs import make
from jaxmeta.learners import PPO, Reinforce, hparams_with, train
from jaxmeta.learners.common.evaluate import evaluate


def _train_and_evaluate(learner, hparams, num_updates, seed):
    env, env_params = make("CartPole-v1")
    state, metrics = jax.jit(train, static_argnums=(0, 4))(
        learner, jax.random.key(seed), hparams, env_params, num_updates
    )
    returns, _ = jax.jit(evaluate, static_argnums=(0, 4, 5))(
        learner, jax.random.key(seed + 100), state, env_params, 32, 500
    )
    return float(np.mean(returns)), metrics


@pytest.mark.slow
def test_ppo_learns_cartpole_to_400():
    env, _ = make("CartPole-v1")
    learner = PPO(env, num_envs=16, num_steps=64, num_epochs=4, num_minibatches=4)
    hparams = hparams_with(
        learner.default_hparams(),
        learning_rate=5e-3,
        gamma=0.986,
        gae_lambda=0.9,
        clip_eps=0.2,
        ent_coef=1e-3,
    )
    mean_return, metrics = _train_and_evaluate(learner, hparams, 80, seed=0)
    assert mean_return >= 400.0, mean_return
    assert float(metrics["env_steps"][-1]) == 80 * 16 * 64


@pytest.mark.slow
def test_reinforce_with_baseline_improves_on_cartpole():
    env, _ = make("CartPole-v1")
    learner = Reinforce(env, num_envs=16, num_steps=64, baseline="learned")
    hparams = hparams_with(learner.default_hparams(), learning_rate=3e-3)
    mean_return, metrics = _train_and_evaluate(learner, hparams, 150, seed=0)
    first = np.nanmean(np.asarray(metrics["episode_return"])[:10])
    assert mean_return >= 150.0 and mean_return > 3 * first, (mean_return, first)
