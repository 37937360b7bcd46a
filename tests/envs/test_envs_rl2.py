"""RL^2 trial wrapper: trial structure, task resampling, feedback in obs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments.classic_control.cartpole import CartPole

from jaxmeta.envs.navigation2d import (
    Navigation2D,
    Navigation2DParams,
    Navigation2DTasks,
)
from jaxmeta.envs.rl2 import RL2Trials
from jaxmeta.envs.tasks import CartPoleTasks

NAV_TRIALS = RL2Trials(
    Navigation2D(),
    Navigation2DTasks(base_params=Navigation2DParams(max_steps_in_episode=3)),
    episodes_per_trial=2,
)


def _rollout(env, key, actions):
    params = env.default_params
    obs, state = env.reset(key, params)

    def body(state, inputs):
        key_step, action = inputs
        obs, state, reward, term, trunc, info = env.step(
            key_step, state, action, params
        )
        return state, (obs, reward, term, trunc, info, state.task)

    keys = jax.random.split(key, actions.shape[0])
    return obs, state, jax.lax.scan(body, state, (keys, actions))[1]


NAV_ACTIONS = jnp.tile(jnp.array([[0.05, -0.02]]), (13, 1))
# One compiled, vmapped rollout shared by the Navigation2D trial tests.
_nav_batch = jax.jit(jax.vmap(lambda key: _rollout(NAV_TRIALS, key, NAV_ACTIONS)))


def nav_rollout(index):
    """Rollout `index` of a batch of two, computed by one compiled program."""
    batch = _nav_batch(jax.random.split(jax.random.key(0), 2))
    return jax.tree.map(lambda leaf: leaf[index], batch)


def test_trials_of_two_episodes_resample_the_task_at_the_boundary():
    obs0, state0, (obs, reward, term, trunc, info, task) = nav_rollout(0)
    np.testing.assert_array_equal(
        info["episode_in_trial"], [0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0]
    )
    trial_end = np.zeros(13, bool)
    trial_end[[5, 11]] = True
    np.testing.assert_array_equal(info["trial_done"], trial_end)
    np.testing.assert_array_equal(trunc, trial_end)  # both trials end by time limit
    assert not bool(jnp.any(term))
    episode_end = np.zeros(13, bool)
    episode_end[[2, 5, 8, 11]] = True
    np.testing.assert_array_equal(info["episode_done"], episode_end)
    goals = np.asarray(task.goal)
    # constant within a trial (steps 0-4 carry the first trial's task) ...
    np.testing.assert_array_equal(goals[:5], np.broadcast_to(state0.task.goal, (5, 2)))
    np.testing.assert_array_equal(goals[6:11], np.broadcast_to(goals[6], (5, 2)))
    # ... and new at each trial start
    assert not np.allclose(goals[5], goals[4])
    assert not np.allclose(goals[11], goals[10])


def test_observation_carries_previous_action_reward_and_done():
    obs0, _, (obs, reward, _, _, info, _) = nav_rollout(1)
    assert obs0.shape == (NAV_TRIALS.obs_dim,) == (6,)
    np.testing.assert_array_equal(obs0, np.zeros(6))  # origin, no feedback yet
    within = [0, 1, 2, 3, 4, 6]  # steps that do not end a trial
    np.testing.assert_allclose(obs[within, 2:4], np.tile([[0.05, -0.02]], (6, 1)))
    np.testing.assert_allclose(obs[within, 4], reward[np.array(within)])
    np.testing.assert_array_equal(obs[:7, 5], [0, 0, 1, 0, 0, 0, 0])
    # after the inner episode ends, the inner observation is the reset position
    np.testing.assert_allclose(obs[2, :2], [0.0, 0.0])
    # after a trial ends, the new trial starts with zero feedback
    np.testing.assert_array_equal(obs[5, 2:], np.zeros(4))
    np.testing.assert_array_equal(obs[5, :2], [0.0, 0.0])
    final = info["final_observation"][5]
    np.testing.assert_allclose(final[2:], [0.05, -0.02, reward[5], 1.0], rtol=1e-6)


def test_discrete_actions_are_one_hot_and_each_trial_draws_its_task():
    env = RL2Trials(CartPole(), CartPoleTasks(), episodes_per_trial=3)
    assert env.obs_dim == 4 + 2 + 2
    obs0, state0, (obs, *_rest, task) = jax.jit(
        lambda key: _rollout(env, key, jnp.ones(4, jnp.int32))
    )(jax.random.key(2))
    np.testing.assert_array_equal(obs0[4:], np.zeros(4))
    np.testing.assert_array_equal(obs[:, 4:6], np.broadcast_to([0.0, 1.0], (4, 2)))
    np.testing.assert_allclose(task.total_mass, task.masscart + task.masspole)


def test_vmapped_trials_draw_different_tasks():
    obs0, state0, _ = _nav_batch(jax.random.split(jax.random.key(0), 2))
    assert not np.allclose(state0.task.goal[0], state0.task.goal[1])


def test_bad_arguments_raise_naming_the_field():
    with pytest.raises(ValueError, match="episodes_per_trial"):
        RL2Trials(CartPole(), CartPoleTasks(), episodes_per_trial=0)
    with pytest.raises(ValueError, match="tasks"):
        RL2Trials(CartPole(), object(), episodes_per_trial=2)
