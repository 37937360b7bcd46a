"""TRPO and xTRPO: conjugate gradient, the trust region of every accepted step,
the two acceptance rules, learning continuous CartPole (slow), bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.envs import make
from jaxmeta.learners import TRPO, hparams_with, train
from jaxmeta.learners.base import check_hparams
from jaxmeta.learners.common.evaluate import evaluate
from jaxmeta.learners.trpo import conjugate_gradient

single_train = jax.jit(train, static_argnums=(0, 4))


def test_conjugate_gradient_solves_a_positive_definite_system():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(6, 6)).astype(np.float32)
    a = jnp.asarray(m @ m.T + 0.5 * np.eye(6, dtype=np.float32))
    b = jnp.asarray(rng.normal(size=6).astype(np.float32))
    x = conjugate_gradient(lambda v: a @ v, b, 12)
    np.testing.assert_allclose(a @ x, b, atol=1e-4)


@pytest.mark.parametrize("max_kl", [1e-3, 1e-2, 1e-1])
def test_every_accepted_step_stays_in_the_trust_region(max_kl):
    env, env_params = make("CartPoleContinuous-v1")
    learner = TRPO(env, num_envs=4, num_steps=64, hidden=(16,), critic_hidden=(16,))
    hparams = hparams_with(learner.default_hparams(), max_kl=max_kl)
    _, metrics = single_train(learner, jax.random.key(0), hparams, env_params, 6)
    kl, accepted = (
        np.asarray(metrics["train/kl"]),
        np.asarray(metrics["train/accepted"]),
    )
    assert accepted.sum() >= 4
    assert np.all(kl[accepted > 0] <= max_kl * (1 + 1e-5))
    assert np.all(kl[accepted > 0] > 0)


def _batch():
    env, env_params = make("CartPoleContinuous-v1")
    learner = TRPO(env, num_envs=4, num_steps=64, hidden=(16,), critic_hidden=(16,))
    hparams = learner.default_hparams()
    state = learner.init(jax.random.key(0), hparams, env_params)
    env_carry, traj, _ = learner._rollout(jax.random.key(1), state, env_params, True)
    return learner, state, learner._batch(state, traj, env_carry, hparams), hparams


@pytest.mark.long
def test_xtrpo_and_trpo_agree_when_the_surrogate_improves_and_differ_when_flat():
    learner, state, batch, hparams = _batch()
    xtrpo = TRPO(
        learner.env,
        num_envs=4,
        num_steps=64,
        hidden=(16,),
        critic_hidden=(16,),
        variant="xtrpo",
    )
    params_t, info_t = jax.jit(learner.policy_step)(
        state.params["actor"], batch, hparams
    )
    params_x, info_x = jax.jit(xtrpo.policy_step)(state.params["actor"], batch, hparams)
    assert float(info_t["surrogate_improvement"]) > 0 and float(info_t["accepted"]) == 1
    for a, b in zip(
        jax.tree_util.tree_leaves(params_t),
        jax.tree_util.tree_leaves(params_x),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    # Zero advantages: the surrogate cannot improve. TRPO refuses every
    # fraction; xTRPO takes the (zero) step, as the trust region allows it.
    flat = {**batch, "advantage": jnp.zeros_like(batch["advantage"])}
    _, info_t = learner.policy_step(state.params["actor"], flat, hparams)
    _, info_x = xtrpo.policy_step(state.params["actor"], flat, hparams)
    assert float(info_t["accepted"]) == 0 and float(info_x["accepted"]) == 1


def test_bad_input():
    env, _ = make("CartPoleContinuous-v1")
    with pytest.raises(ValueError, match="at most 3 positive layer widths"):
        TRPO(env, hidden=(8, 8, 8, 8))
    with pytest.raises(ValueError, match="variant must be one of"):
        TRPO(env, variant="ppo")
    learner = TRPO(env, hidden=())  # a linear policy
    with pytest.raises(ValueError, match=r"hparams.max_kl must lie in \(0.0, inf"):
        check_hparams(learner, hparams_with(learner.default_hparams(), max_kl=0.0))


@pytest.mark.long
@pytest.mark.slow
def test_trpo_learns_continuous_cartpole():
    env, env_params = make("CartPoleContinuous-v1")
    learner = TRPO(env, num_envs=8, num_steps=256, hidden=(32,))
    hparams = hparams_with(learner.default_hparams(), max_kl=0.02, gae_lambda=0.95)
    state, _ = single_train(learner, jax.random.key(0), hparams, env_params, 100)
    returns, _ = jax.jit(evaluate, static_argnums=(0, 4, 5, 6))(
        learner, jax.random.key(1), state, env_params, 16, 500, True
    )
    assert float(returns.mean()) >= 400.0, float(returns.mean())
