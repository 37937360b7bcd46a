"""The battery every registered controller passes, wrapped around a tiny PPO
on CartPole-v1: smoke, member i of a vmapped population equals the unbatched
run, a population with different controller params compiles once; plus
Controlled(PPO, Constant()) equals plain PPO exactly and a schedule changes
the learning rate every update without recompiling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.control import Constant, Controlled, LinearSchedule, make_controller
from jaxmeta.control.registry import registered_names
from jaxmeta.envs import make
from jaxmeta.learners import PPO, train

TINY = {
    "constant": {},
    "linear": dict(field="learning_rate", horizon=4),
    "cosine": dict(field="learning_rate", horizon=4),
    "step": dict(field="clip_eps", every=2, factor=0.5),
    "random": dict(field="clip_eps", low=0.1, high=0.3),
    # Untrained (Q = 0) on PPO: it reads the last return, sets clip_eps.
    "fqi": dict(
        field="clip_eps", grid=[0.1, 0.2], inputs=["episode_return"], num_trees=2
    ),
    # BiERL's controller on PPO: it reads the last returns, sets the rate.
    "bierl": dict(
        num_features=1,
        inputs=["episode_return"],
        history=3,
        hidden=8,
        outputs=[["learning_rate", 1e-4, 1e-2, "log"]],
    ),
    "bierl-mlp": dict(
        num_features=1,
        inputs=["episode_return"],
        history=3,
        hidden=8,
        outputs=[["learning_rate", 1e-4, 1e-2, "log"]],
    ),
}
NUM_UPDATES, SIZE = 4, 3
TRACES = []


def _counted(learner, keys, hparams, env_params, num_updates):
    TRACES.append(repr(learner.controller))
    return jax.vmap(train, in_axes=(None, 0, 0, None, None))(
        learner, keys, hparams, env_params, num_updates
    )


population_train = jax.jit(_counted, static_argnums=(0, 4))
single_train = jax.jit(train, static_argnums=(0, 4))


def _ppo():
    env, env_params = make("CartPole-v1")
    learner = PPO(
        env, num_envs=4, num_steps=16, num_epochs=2, num_minibatches=2, hidden=(16, 16)
    )
    return learner, env_params


def _population(learner, scale):
    """SIZE members whose every number (hparams and controller params alike)
    is scaled by a different factor."""
    factors = scale * jnp.linspace(0.5, 1.5, SIZE)

    def spread(x):
        x = jnp.asarray(x)
        return (factors.reshape((SIZE,) + (1,) * x.ndim) * x).astype(x.dtype)

    return jax.tree_util.tree_map(spread, learner.default_hparams())


def test_every_controller_has_a_tiny_config():
    assert set(TINY) >= set(registered_names())


@pytest.fixture(scope="module", params=sorted(TINY))
def runs(request):
    learner, env_params = _ppo()
    controlled = Controlled(
        learner, make_controller(request.param, **TINY[request.param])
    )
    keys = jax.random.split(jax.random.key(0), SIZE)
    hparams = _population(controlled, 1.0)
    batched = population_train(controlled, keys, hparams, env_params, NUM_UPDATES)
    singles = [
        single_train(
            controlled,
            keys[i],
            jax.tree_util.tree_map(lambda x, i=i: x[i], hparams),
            env_params,
            NUM_UPDATES,
        )
        for i in range(SIZE)
    ]
    population_train(
        controlled, keys, _population(controlled, 2.0), env_params, NUM_UPDATES
    )
    return controlled, batched, singles


def test_smoke(runs):
    controlled, _, singles = runs
    state, metrics = singles[0]
    assert int(state.update_count) == NUM_UPDATES and not bool(state.diverged)
    for name in ("episode_return", "env_steps", "control/learning_rate"):
        assert metrics[name].shape == (NUM_UPDATES,)
    action = controlled.act(jax.random.key(1), state, state.env.obs, deterministic=True)
    assert action.shape == (4,)


def test_vmapped_member_equals_unbatched_run(runs):
    _, (_, metrics), singles = runs
    for i, (_, metrics_i) in enumerate(singles):
        for name, value in metrics_i.items():
            np.testing.assert_allclose(
                metrics[name][i], value, rtol=1e-5, atol=1e-5, err_msg=name
            )


def test_compiles_once(runs):
    controlled = runs[0]
    assert TRACES.count(repr(controlled.controller)) == 1


def test_constant_controller_trains_exactly_like_the_learner():
    learner, env_params = _ppo()
    key = jax.random.key(5)
    state, metrics = single_train(
        learner, key, learner.default_hparams(), env_params, 3
    )
    controlled = Controlled(learner, Constant())
    c_state, c_metrics = single_train(
        controlled, key, controlled.default_hparams(), env_params, 3
    )
    for name, value in metrics.items():
        np.testing.assert_array_equal(c_metrics[name], value, err_msg=name)
    for a, b in zip(
        jax.tree_util.tree_leaves(state.params),
        jax.tree_util.tree_leaves(c_state.params),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


def test_a_schedule_sets_the_rate_every_update_and_signals_are_nan_safe():
    learner, env_params = _ppo()
    controlled = Controlled(learner, LinearSchedule("learning_rate", horizon=2))
    hparams = controlled.default_hparams()
    hparams = hparams.replace(
        ctrl=hparams.ctrl.replace(start=jnp.float32(1e-3), end=jnp.float32(1e-4))
    )
    state, metrics = single_train(controlled, jax.random.key(0), hparams, env_params, 4)
    np.testing.assert_allclose(
        metrics["control/learning_rate"], [1e-3, 5.5e-4, 1e-4, 1e-4], rtol=1e-5
    )
    returns = np.asarray(metrics["episode_return"])
    finite = returns[np.isfinite(returns)]
    assert float(state.signals["episode_return"]) == (
        finite[-1] if finite.size else 0.0
    )
    assert float(state.signals["update"]) == 4.0


def test_bad_schedule_field_is_refused():
    learner, _ = _ppo()
    with pytest.raises(
        ValueError, match="'learning_rat'; did you mean 'learning_rate'"
    ):
        Controlled(learner, LinearSchedule("learning_rat"))
    with pytest.raises(ValueError, match="horizon must be a positive int"):
        LinearSchedule("learning_rate", horizon=0)
    with pytest.raises(ValueError, match="unknown controller 'linaer'"):
        make_controller("linaer")
