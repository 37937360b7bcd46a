"""train_population: chunked equals unbatched `train`, a task per member, the
action bounds of each member's own task, exact int32 env-step counts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.envs import make
from jaxmeta.envs.tasks import PendulumTasks
from jaxmeta.learners import PPO, Reinforce, train
from jaxmeta.learners.base import env_steps
from jaxmeta.run.population import train_population

POP = 3
single_train = jax.jit(train, static_argnums=(0, 4))


def _population(learner, pop=POP):
    base = learner.default_hparams()
    hparams = jax.tree_util.tree_map(lambda x: jnp.full((pop,), x), base)
    rates = jnp.geomspace(1e-4, 1e-2, pop).astype(jnp.float32)
    return hparams.replace(learning_rate=rates)


def _member(tree, i):
    return jax.tree_util.tree_map(lambda x: x[i], tree)


def test_chunked_population_equals_unbatched_train_per_member(
    key, assert_member_matches
):
    env, env_params = make("CartPole-v1")
    learner = PPO(
        env, num_envs=4, num_steps=16, num_epochs=2, num_minibatches=2, hidden=(16, 16)
    )
    hparams = _population(learner)
    seen = []
    states, metrics, info = train_population(
        learner,
        key,
        hparams,
        env_params,
        6,
        chunk_size=2,
        progress_fn=lambda done, m: seen.append(done),
    )
    assert seen == [2, 4, 6] and info["chunk_size"] == 2
    assert metrics["env_steps"].dtype == np.int32
    np.testing.assert_array_equal(info["failure_code"], 0)
    keys = jax.random.split(key, POP)
    for i in range(POP):
        state_i, metrics_i = single_train(
            learner, keys[i], _member(hparams, i), env_params, 6
        )
        assert_member_matches(states, metrics, i, state_i, metrics_i)


def test_a_task_per_member_and_bounds_from_each_members_task(key):
    env, _ = make("Pendulum-v1")
    learner = Reinforce(env, num_envs=4, num_steps=16, hidden=(8,))
    torques = jnp.array([0.5, 2.0, 4.0], jnp.float32)
    tasks = jax.vmap(PendulumTasks().sample)(jax.random.split(key, POP))
    tasks = tasks.replace(max_torque=torques)
    hparams = _population(learner)
    states, metrics, _ = train_population(
        learner, key, hparams, tasks, 4, chunk_size=2, per_member_tasks=True
    )
    keys = jax.random.split(key, POP)
    for i in range(POP):
        state_i, metrics_i = single_train(
            learner, keys[i], _member(hparams, i), _member(tasks, i), 4
        )
        np.testing.assert_allclose(
            metrics["episode_return"][i], metrics_i["episode_return"], rtol=1e-5
        )
        np.testing.assert_allclose(state_i.env.action_high, [torques[i]])
        obs = jnp.zeros((256, 3))
        actions = learner.act(jax.random.key(i), _member(states, i), obs)
        limit = float(torques[i])
        assert float(jnp.max(jnp.abs(actions))) <= limit + 1e-6
        # The policy's std is about 1, so the clip is reached; at the 2.0 of
        # the default params only for the member whose task allows it.
        assert float(jnp.max(jnp.abs(actions))) > min(limit, 1.5) * 0.99


def test_per_member_tasks_must_be_batched(key):
    env, env_params = make("Pendulum-v1")
    learner = Reinforce(env, num_envs=2, num_steps=4, hidden=(8,))
    with pytest.raises(ValueError, match="per_member_tasks.*population_size=3"):
        train_population(
            learner, key, _population(learner), env_params, 2, per_member_tasks=True
        )


def test_env_steps_exact_beyond_float32_precision():
    # 2^24 + 1 is the first integer float32 cannot hold.
    count = jnp.asarray(2**24 + 1, jnp.int32)
    assert int(env_steps(count, 1)) == 2**24 + 1
    assert int(env_steps(jnp.asarray(70_000, jnp.int32), 30_000)) == 2_100_000_000
    assert float(jnp.float32(2**24 + 1)) != 2**24 + 1
