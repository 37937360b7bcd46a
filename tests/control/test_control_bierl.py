"""BiERL: the controller meta-trained by ES inside the learner's program.
vmapped == unbatched, one compile, env steps of the meta-training counted,
warm start, bad input; and the controller drives PPO's learning rate on
CartPole while meta-training, improving on its start (slow)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.control.bierl import BiERL, warm_start
from jaxmeta.control.lstm import BiERLController
from jaxmeta.envs import make
from jaxmeta.learners import PPO, train

RATE = (("learning_rate", 1e-4, 3e-2, "log"),)
TRACES = []


def _bierl(meta_population=4, meta_every=2, hidden=(16,), num_envs=4):
    env, env_params = make("CartPole-v1")
    learner = PPO(
        env,
        num_envs=num_envs,
        num_steps=32,
        num_epochs=2,
        num_minibatches=2,
        hidden=hidden,
    )
    controller = BiERLController(
        num_features=1, inputs=("episode_return",), outputs=RATE, history=4, hidden=8
    )
    return BiERL(
        learner, controller, meta_population, meta_every, truncation=2
    ), env_params


def _counted(learner, keys, hparams, env_params, num_updates):
    TRACES.append(1)
    return jax.vmap(train, in_axes=(None, 0, 0, None, None))(
        learner, keys, hparams, env_params, num_updates
    )


population_train = jax.jit(_counted, static_argnums=(0, 4))
single_train = jax.jit(train, static_argnums=(0, 4))


def _member(tree, i):
    return jax.tree_util.tree_map(lambda x: x[i], tree)


def test_population_equals_members_compiles_once_and_counts_meta_steps():
    bierl, env_params = _bierl()
    base = bierl.default_hparams()
    hparams = jax.tree_util.tree_map(lambda x: jnp.stack([x, x]), base)
    hparams = hparams.replace(sigma_meta=jnp.array([0.05, 0.2]))
    keys = jax.random.split(jax.random.key(0), 2)
    states, metrics = population_train(bierl, keys, hparams, env_params, 2)
    population_train(
        bierl, keys, hparams.replace(lr_meta=jnp.array([0.1, 0.01])), env_params, 2
    )
    assert len(TRACES) == 1
    for i in range(2):
        _, metrics_i = single_train(bierl, keys[i], _member(hparams, i), env_params, 2)
        for name, value in metrics_i.items():
            np.testing.assert_allclose(
                metrics[name][i], value, rtol=1e-5, atol=1e-6, err_msg=name
            )
    # 2 inner updates of 4 x 32 steps, then 4 candidates x 2 fitness updates.
    per_update = 2 * 128 + 4 * 2 * 128
    np.testing.assert_array_equal(metrics["env_steps"][0], [per_update, 2 * per_update])
    np.testing.assert_array_equal(metrics["bierl/inner_env_steps"][0], [256, 512])
    assert metrics["bierl/learning_rate"].shape == (2, 2, 2)  # [pop, update, inner]
    rates = np.asarray(metrics["bierl/learning_rate"])
    assert np.all((rates >= 1e-4) & (rates <= 3e-2))
    # The meta step moved the controller's weights.
    first = jax.tree_util.tree_leaves(base.ctrl_init)
    moved = jax.tree_util.tree_leaves(_member(states.phi, 0))
    assert any(not np.allclose(a, b) for a, b in zip(first, moved, strict=True))


def test_warm_start_loads_trained_weights():
    bierl, env_params = _bierl()
    hparams = bierl.default_hparams()
    state, _ = single_train(bierl, jax.random.key(1), hparams, env_params, 1)
    warm = warm_start(hparams, state)
    for a, b in zip(
        jax.tree_util.tree_leaves(warm.ctrl_init),
        jax.tree_util.tree_leaves(state.phi),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


def test_bad_input():
    env, _ = make("CartPole-v1")
    learner = PPO(env, num_envs=2, num_steps=4, num_minibatches=1)
    controller = BiERLController(
        num_features=1, inputs=("episode_return",), outputs=RATE
    )
    with pytest.raises(ValueError, match="meta_population must be an even int >= 2"):
        BiERL(learner, controller, meta_population=1)
    with pytest.raises(ValueError, match="meta_population must be an even"):
        BiERL(learner, controller, meta_population=5)
    bad = BiERLController(
        num_features=1,
        inputs=("episode_return",),
        outputs=(("learning_rat", 1e-4, 1e-2, "log"),),
    )
    with pytest.raises(ValueError, match="did you mean 'learning_rate'"):
        BiERL(learner, bad)
    with pytest.raises(ValueError, match="low < high"):
        BiERLController(num_features=1, outputs=(("sigma", 0.1, 0.01, "linear"),))
    with pytest.raises(ValueError, match="unknown encoder 'gru'"):
        BiERLController(num_features=1, encoder="gru")


@pytest.mark.slow
def test_bierl_drives_ppo_learning_rate_on_cartpole_and_improves():
    bierl, env_params = _bierl(
        meta_population=8, meta_every=4, hidden=(32,), num_envs=8
    )
    state, metrics = single_train(
        bierl, jax.random.key(0), bierl.default_hparams(), env_params, 8
    )
    returns = np.asarray(metrics["episode_return"])
    assert returns[-1] > 2.0 * returns[0], returns
    assert returns[-1] > 60.0, returns
