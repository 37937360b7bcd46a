"""The battery every registered learner passes: smoke (discrete and continuous
actions), member i of a vmapped population equals the unbatched run with
`hparams[i]`, and a population with different hyperparameters compiles once.
Results are computed once per learner (module fixtures) to keep compiles few."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.envs import make
from jaxmeta.learners import LEARNERS, make_learner, train

TINY = {
    "ppo": dict(
        num_envs=4, num_steps=16, num_epochs=2, num_minibatches=2, hidden=(16, 16)
    ),
    "reinforce": dict(num_envs=4, num_steps=16, hidden=(16, 16)),
    "trpo": dict(
        num_envs=4,
        num_steps=16,
        hidden=(16, 16),
        critic_hidden=(16,),
        cg_iters=3,
        line_search_steps=3,
        vf_iters=2,
    ),
}
NUM_UPDATES = 4
SIZE = 3
TRACES = []


def _counted_population_train(learner, keys, hparams, env_params, num_updates):
    TRACES.append(type(learner).__name__)
    return jax.vmap(train, in_axes=(None, 0, 0, None, None))(
        learner, keys, hparams, env_params, num_updates
    )


population_train = jax.jit(_counted_population_train, static_argnums=(0, 4))
single_train = jax.jit(train, static_argnums=(0, 4))


# The step-size hparam each population varies (log-spaced), default the rate.
VARIED = {"trpo": ("max_kl", 1e-3, 5e-2)}


def _population(learner, scale=1.0):
    base = learner.default_hparams()
    hparams = jax.tree_util.tree_map(lambda x: jnp.full((SIZE,), x), base)
    name = next(n for n, cls in LEARNERS.items() if isinstance(learner, cls))
    field, low, high = VARIED.get(name, ("learning_rate", 1e-4, 1e-2))
    values = scale * jnp.geomspace(low, high, SIZE).astype(jnp.float32)
    hparams = hparams.replace(**{field: values})
    if hasattr(base, "gamma"):
        hparams = hparams.replace(
            gamma=jnp.linspace(0.9, 0.99, SIZE).astype(jnp.float32)
        )
    return hparams


@pytest.fixture(scope="module", params=sorted(LEARNERS))
def cartpole_runs(request):
    env, env_params = make("CartPole-v1")
    learner = make_learner(request.param, env, **TINY[request.param])
    keys = jax.random.split(jax.random.key(0), SIZE)
    hparams = _population(learner)
    batched = population_train(learner, keys, hparams, env_params, NUM_UPDATES)
    singles = [
        single_train(
            learner,
            keys[i],
            jax.tree_util.tree_map(lambda x, i=i: x[i], hparams),
            env_params,
            NUM_UPDATES,
        )
        for i in range(SIZE)
    ]
    # A second population with other numbers must reuse the compiled program:
    # every member gets the same key, so only the hparams tell them apart.
    same_key = jnp.stack([keys[0]] * SIZE)
    shared = population_train(
        learner, same_key, _population(learner, 2.0), env_params, NUM_UPDATES
    )
    return learner, batched, singles, shared


def test_every_learner_has_a_tiny_config():
    assert set(TINY) == set(LEARNERS)


def _check_contract(learner, state, metrics):
    for field in ("episode_return", "episodes", "env_steps", "train/failure"):
        assert metrics[field].shape == (NUM_UPDATES,)
    steps = learner.num_envs * learner.num_steps
    assert metrics["env_steps"].dtype == jnp.int32
    np.testing.assert_array_equal(
        metrics["env_steps"], steps * np.arange(1, NUM_UPDATES + 1)
    )
    assert not np.any(metrics["train/failure"])
    assert int(state.update_count) == NUM_UPDATES
    assert not bool(state.diverged)
    finished = np.asarray(metrics["episodes"]) > 0
    returns = np.asarray(metrics["episode_return"])
    assert np.all(np.isfinite(returns[finished]))
    assert np.all(np.isnan(returns[~finished]))
    action = learner.act(jax.random.key(1), state, state.env.obs)
    assert action.shape[0] == learner.num_envs
    greedy = learner.act(jax.random.key(1), state, state.env.obs, deterministic=True)
    again = learner.act(jax.random.key(2), state, state.env.obs, deterministic=True)
    np.testing.assert_array_equal(greedy, again)


def test_smoke_discrete_actions(cartpole_runs):
    learner, _, singles, _ = cartpole_runs
    state, metrics = singles[0]
    _check_contract(learner, state, metrics)
    assert float(np.sum(metrics["episodes"])) > 0


@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_smoke_continuous_actions(name):
    env, env_params = make("Pendulum-v1")
    learner = make_learner(name, env, **TINY[name])
    state, metrics = single_train(
        learner,
        jax.random.key(0),
        learner.default_hparams(),
        env_params,
        NUM_UPDATES,
    )
    _check_contract(learner, state, metrics)
    action = learner.act(jax.random.key(1), state, state.env.obs)
    assert action.shape == (learner.num_envs, 1)
    assert float(jnp.max(jnp.abs(action))) <= 2.0


def test_vmapped_member_equals_unbatched_run(cartpole_runs):
    _, (states, metrics), singles, _ = cartpole_runs
    for i, (state_i, metrics_i) in enumerate(singles):
        for k in metrics_i:
            np.testing.assert_allclose(
                metrics[k][i], metrics_i[k], rtol=1e-5, atol=1e-5, err_msg=k
            )
        for a, b in zip(
            jax.tree_util.tree_leaves(state_i.params),
            jax.tree_util.tree_leaves(states.params),
            strict=True,
        ):
            np.testing.assert_allclose(b[i], a, rtol=1e-5, atol=1e-5)


def test_members_differ_when_only_hparams_differ(cartpole_runs):
    _, _, _, (states, metrics) = cartpole_runs
    # Same key: same initial params and envs; the learning rates differ.
    for leaf in jax.tree_util.tree_leaves(states.params):
        assert not np.allclose(leaf[0], leaf[-1])
    # The first rollout comes from the same initial policy; later ones do not.
    returns = np.asarray(metrics["episode_return"])
    np.testing.assert_array_equal(returns[0, 0], returns[-1, 0])
    np.testing.assert_array_equal(metrics["episodes"][0, 0], metrics["episodes"][-1, 0])
    loss = np.asarray(metrics["train/value_loss"])
    assert not np.allclose(loss[0], loss[-1])


def test_population_with_different_hparams_compiles_once(cartpole_runs):
    learner = cartpole_runs[0]
    assert TRACES.count(type(learner).__name__) == 1
