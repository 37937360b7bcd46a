"""Elikoeidis: the reward formula, noise variance, tasks, jit and vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.envs import make
from jaxmeta.envs.elikoeidis import ElikoeidisParams, ElikoeidisTasks, mean_reward

ENV, _ = make("Elikoeidis-v0")


def test_mean_reward_matches_the_paper_formula_and_is_odd():
    params = ElikoeidisParams()
    a = np.array([0.3, 1.0, 2.5, 4.0])
    expected = 0.5 * a * np.sin(a ** (4 / 3)) + 0.5 * a
    np.testing.assert_allclose(mean_reward(jnp.asarray(a), params), expected, 1e-5)
    np.testing.assert_allclose(
        mean_reward(-jnp.asarray(a), params), -expected, rtol=1e-5
    )


N = 4000


@jax.jit
def _one_step(keys, actions, params):
    """One-step episodes, vmapped over keys, actions ``[N, 1]`` and tasks."""

    def step(key, action, task):
        _, state = ENV.reset(key, task)
        obs, _, reward, term, trunc, info = ENV.step(key, state, action, task)
        return obs, reward, term, trunc, info["mean_reward"]

    return jax.vmap(step)(keys, actions, params)


def test_rewards_vmapped_over_tasks_have_the_task_mean_and_variance_c4():
    keys = jax.random.split(jax.random.key(0), N)
    tasks = jax.vmap(ElikoeidisTasks(c1=(0.0, 1.0), c4=(4.0, 4.0)).sample)(keys)
    actions = jnp.where(jnp.arange(N) < N - 2, 2.0, 50.0)[:, None]
    obs, reward, term, trunc, mean = _one_step(keys, actions, tasks)
    np.testing.assert_allclose(obs, 1.0)
    assert float(jnp.std(tasks.c1)) > 0.2
    # each task's mean reward; an action of 50 is clipped to max_action = 5
    taken = np.where(np.arange(N) < N - 2, 2.0, 5.0)
    expected = tasks.c1 * taken * np.sin(taken ** (4 / 3)) + 0.5 * taken
    np.testing.assert_allclose(mean, expected, rtol=1e-5, atol=1e-6)
    noise = reward - mean
    assert abs(float(jnp.mean(noise))) < 0.1
    assert abs(float(jnp.var(noise)) - 4.0) < 0.4
    # one-step episodes
    assert bool(jnp.all(trunc)) and not bool(jnp.any(term))


def test_validation_names_the_field():
    with pytest.raises(ValueError, match="c2"):
        ElikoeidisTasks(c2=(0.0, 3.0))
    with pytest.raises(ValueError, match="c4"):
        ElikoeidisTasks(c4=(-1.0, 1.0))
    with pytest.raises(ValueError, match="max_action"):
        make("Elikoeidis-v0", max_action=0.0)
