"""EpisodicTRPO, the trust-region meta-MDP's inner learner: J is the mean
return of exactly N first episodes, the controller sees J_0 and phi_0 before
update 0, accepted steps keep KL <= lambda, and it learns continuous
CartPole."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxmeta.control import Constant, Controlled
from jaxmeta.control.metafeatures import META_NAMES, MetaFeatures
from jaxmeta.envs import make
from jaxmeta.learners import EpisodicTRPO, train
from jaxmeta.learners.common.episodic import first_episode_mask

train_jit = jax.jit(train, static_argnums=(0, 4))


def test_first_episode_mask_keeps_each_envs_first_episode():
    done = jnp.array([[0, 1], [1, 0], [0, 1], [1, 0]], bool)
    mask = first_episode_mask(done)
    np.testing.assert_array_equal(
        mask, [[True, True], [True, False], [False, False], [False, False]]
    )


def test_returns_are_the_first_episodes_and_initial_signals_are_measured():
    env, params = make("CartPoleContinuous-v1", max_steps_in_episode=60)
    learner = EpisodicTRPO(
        env, num_envs=8, num_steps=60, hidden=(), critic_hidden=(8,),
        features=MetaFeatures(points=64), cg_iters=5, line_search_steps=5, vf_iters=2,
    )  # fmt: skip
    controlled = Controlled(learner, Constant())
    hparams = controlled.default_hparams()
    state = jax.jit(controlled.init)(jax.random.key(0), hparams, params)
    inner = state.learner
    # CartPole pays 1 per step: a first episode's return is its length.
    lengths = inner.valid.sum(0)
    np.testing.assert_allclose(inner.returns, lengths)
    assert float(state.signals["episode_return"]) == float(inner.returns.mean())
    for name, value in zip(META_NAMES, inner.features, strict=True):
        assert float(state.signals[name]) == float(value)
    assert float(jnp.abs(inner.features).sum()) > 0
    # KL of every accepted step <= the bound (line search tolerance: exact).
    kls = jnp.array([0.002, 0.02, 0.2])
    for kl in kls:
        h = hparams.replace(learner=hparams.learner.replace(max_kl=kl))
        _, metrics = train_jit(controlled, jax.random.key(1), h, params, 3)
        assert np.all(np.asarray(metrics["train/kl"]) <= float(kl) * (1 + 1e-5))
        assert np.all(np.asarray(metrics["episodes"]) == 8)


def test_episodic_xtrpo_learns_continuous_cartpole():
    env, params = make("CartPoleContinuous-v1", max_steps_in_episode=100)
    learner = EpisodicTRPO(
        env, num_envs=16, num_steps=100, hidden=(), critic_hidden=(16,),
        features=MetaFeatures(points=64),
    )  # fmt: skip
    hparams = learner.default_hparams().replace(max_kl=jnp.float32(0.03))
    returns = []
    for seed in range(2):
        _, metrics = train_jit(learner, jax.random.key(seed), hparams, params, 12)
        returns.append(np.asarray(metrics["episode_return"]))
    returns = np.asarray(returns)
    # Random linear policies balance ~20 steps; 12 updates reach the cap's half.
    assert returns[:, -3:].mean() > 60, returns
