"""EpisodicPPO, the inner learner when the meta-action is PPO's clip range:
padding steps weigh nothing, clip_eps is traced and changes the step, and it
learns continuous CartPole with a linear policy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.control.metafeatures import MetaFeatures
from jaxmeta.envs import make
from jaxmeta.learners import EpisodicPPO, train

train_jit = jax.jit(train, static_argnums=(0, 4))


def _learner(**config):
    env, params = make("CartPoleContinuous-v1", max_steps_in_episode=60)
    defaults = dict(
        num_envs=8, num_steps=60, hidden=(), critic_hidden=(8,), num_epochs=2,
        num_minibatches=2,
    )  # fmt: skip
    return EpisodicPPO(env, **{**defaults, **config}), params


def test_padding_steps_do_not_change_the_loss():
    learner, params = _learner()
    hparams = learner.default_hparams()
    state = jax.jit(learner.init)(jax.random.key(0), hparams, params)
    batch = learner._batch(state, state.batch, state.env, hparams, state.valid)
    assert float(batch["weight"].min()) == 0.0  # some envs ended early
    loss, _ = learner._loss(state.params, batch, hparams)
    padding = batch["weight"] == 0
    garbage = {
        k: (jnp.where(padding.reshape((-1,) + (1,) * (v.ndim - 1)), 7.0, v)
            if k != "weight" else v)
        for k, v in batch.items()
    }  # fmt: skip
    garbage_loss, _ = learner._loss(state.params, garbage, hparams)
    np.testing.assert_allclose(garbage_loss, loss, rtol=1e-6)
    valid = {k: v[~np.asarray(padding)] for k, v in batch.items()}
    del valid["weight"]
    plain, _ = learner._loss(state.params, valid, hparams)
    np.testing.assert_allclose(plain, loss, rtol=1e-4)


def test_clip_eps_is_traced_and_changes_the_step():
    learner, params = _learner()
    # A large rate, so the clip range binds.
    hparams = learner.default_hparams().replace(learning_rate=jnp.float32(0.1))
    runs = [
        train_jit(learner, jax.random.key(1), hparams.replace(clip_eps=c), params, 2)
        for c in (jnp.float32(0.02), jnp.float32(0.5))
    ]
    assert train_jit._cache_size() == 1
    (state_a, metrics_a), (state_b, metrics_b) = runs
    np.testing.assert_array_equal(metrics_a["episodes"], [8, 8])
    assert not np.allclose(metrics_a["train/approx_kl"], metrics_b["train/approx_kl"])


def test_rejects_deep_policies_and_normalisation():
    with pytest.raises(ValueError, match="hidden must be at most 3"):
        _learner(hidden=(8, 8, 8, 8))
    with pytest.raises(ValueError, match="normalize_obs must be False"):
        _learner(normalize_obs=True)
    with pytest.raises(ValueError, match="num_minibatches"):
        _learner(num_minibatches=7)


def test_episodic_ppo_learns_continuous_cartpole():
    env, params = make("CartPoleContinuous-v1", max_steps_in_episode=100)
    learner = EpisodicPPO(
        env, num_envs=16, num_steps=100, hidden=(), critic_hidden=(16,),
        features=MetaFeatures(points=64),
    )  # fmt: skip
    hparams = learner.default_hparams().replace(learning_rate=jnp.float32(3e-3))
    returns = []
    for seed in range(2):
        _, metrics = train_jit(learner, jax.random.key(seed), hparams, params, 12)
        returns.append(np.asarray(metrics["episode_return"]))
    returns = np.asarray(returns)
    # Random linear policies balance ~20 steps.
    assert returns[:, -3:].mean() > 40, returns
