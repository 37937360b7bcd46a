"""MAML composes with a registered learner: the inner step is PPO's own
update (its clipped surrogate, its Adam) from `state.replace(params=...)`.
(slow) MAML-PPO improves the post-adaptation return on CartPole tasks over
pole mass, pole length and cart mass, and its meta-gradient reaches the
critic, which only PPO's update reads (the outer surrogate reads the actor):
Adam moves no parameter whose gradient is always zero."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments.classic_control.cartpole import CartPole, EnvParams

from jaxmeta.adapt import make_adapter, meta_train
from jaxmeta.envs import make
from jaxmeta.envs.tasks import CartPoleTasks
from jaxmeta.learners import PPO, hparams_with

TASKS = CartPoleTasks(base_params=EnvParams(max_steps_in_episode=100))
PPO_TINY = dict(num_envs=4, num_steps=32, num_epochs=1, num_minibatches=1)


def _maml_ppo(name="maml", hidden=(16, 16), **config):
    env, _ = make("CartPole-v1")
    learner = PPO(env, hidden=hidden, **PPO_TINY)
    adapter = make_adapter(
        name, env, tasks=TASKS, learner=learner, horizon=100, **config
    )
    hparams = adapter.default_hparams()
    inner = hparams_with(hparams.learner_hparams, learning_rate=0.02)
    return adapter, hparams.replace(learner_hparams=inner)


def test_learner_step_rejects_what_it_cannot_do():
    env, _ = make("CartPole-v1")
    learner = PPO(env, **PPO_TINY)
    for config, field in (
        ({"meta_sgd": True}, "meta_sgd"),
        ({"outer_optimizer": "trpo"}, "outer_optimizer"),
        ({"estimator": "full"}, "estimator"),
    ):
        with pytest.raises(ValueError, match=field):
            make_adapter("maml", env, tasks=TASKS, learner=learner, **config)
    with pytest.raises(ValueError, match="learner.env"):
        make_adapter("maml", CartPole(), tasks=TASKS, learner=learner)
    with pytest.raises(ValueError, match="learner must be an on-policy"):
        make_adapter("maml", env, tasks=TASKS, learner="ppo")


@pytest.mark.long  # about 25 s: `pytest -m long`
def test_maml_ppo_improves_post_adaptation_return_on_cartpole_tasks():
    adapter, hparams = _maml_ppo(num_episodes=8, meta_batch_size=4)
    hparams = hparams.replace(outer_lr=jnp.float32(0.01))
    held_out = jax.vmap(TASKS.sample)(jax.random.split(jax.random.key(9), 16))
    evaluate = jax.jit(
        jax.vmap(adapter.adapt, in_axes=(0, None, None, 0, None)), static_argnums=4
    )
    keys = jax.random.split(jax.random.key(8), 16)
    key_init, _ = jax.random.split(jax.random.key(3))
    initial = jax.jit(adapter.init)(key_init, hparams)
    before = np.asarray(evaluate(keys, initial, hparams, held_out, 1)).mean(0)
    state, metrics = jax.jit(meta_train, static_argnums=(0, 3))(
        adapter, jax.random.key(3), hparams, 12
    )
    after = np.asarray(evaluate(keys, state, hparams, held_out, 1)).mean(0)
    assert not bool(state.diverged)
    assert after[1] > before[1] + 10.0, (before, after)
    for part in ("actor", "critic"):
        moved = jax.tree_util.tree_map(
            lambda a, b: float(jnp.max(jnp.abs(a - b))),
            state.params[part], initial.params[part],
        )  # fmt: skip
        assert max(jax.tree_util.tree_leaves(moved)) > 1e-4, part
    post = np.asarray(metrics["meta/post_return"])
    assert post[-4:].mean() > post[:4].mean(), post
