"""HIRO's parts: the goal transition and intrinsic reward, the off-policy
correction's candidates and its choice by the worker's log-likelihood, the
manager's window replay; bad input refused before compiling. (The battery
on PointUMaze is in test_learners_battery.py.)"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.envs import make
from jaxmeta.learners.hierarchical import hiro_parts as parts
from jaxmeta.learners.hierarchical.hiro import HIRO

MAZE, MAZE_PARAMS = make("PointUMaze-v0")
DIMS = (0, 1)


def test_goal_transition_keeps_the_absolute_target():
    obs, goal = jnp.array([[1.0, 2.0, 9.0]]), jnp.array([[0.5, -1.0]])
    next_obs = jnp.array([[1.2, 1.5, -3.0]])
    new = parts.goal_transition(obs, goal, next_obs, DIMS)
    np.testing.assert_allclose(new, [[0.3, -0.5]], atol=1e-6)
    np.testing.assert_allclose(next_obs[:, :2] + new, obs[:, :2] + goal)
    reward = parts.intrinsic_reward(obs, goal, next_obs, DIMS)
    np.testing.assert_allclose(reward, [-np.hypot(0.3, 0.5)], rtol=1e-6)
    on_target = parts.intrinsic_reward(obs, goal, obs.at[:, :2].add(goal), DIMS)
    np.testing.assert_allclose(on_target, [0.0], atol=1e-6)


def test_candidates_are_the_original_the_achieved_change_and_clipped_draws():
    goal = jnp.array([[5.0, -5.0], [0.1, 0.2]])  # the original is kept as is
    start = jnp.zeros((2, 2))
    end = jnp.array([[0.4, -0.2], [2.0, 0.0]])
    cands = parts.candidate_goals(jax.random.key(0), goal, start, end, DIMS,
                                  1.0, 0.5, 10)  # fmt: skip
    assert cands.shape == (2, 10, 2)
    np.testing.assert_allclose(cands[:, 0], goal)
    np.testing.assert_allclose(cands[:, 1], [[0.4, -0.2], [1.0, 0.0]])
    assert np.all(np.abs(np.asarray(cands[:, 1:])) <= 1.0)
    wide = parts.candidate_goals(jax.random.key(0), goal, start, end, DIMS,
                                 100.0, 0.5, 10)  # fmt: skip
    draws = np.asarray(wide[0, 2:, 0])  # unclipped: N(0.4, 50^2)
    assert np.unique(draws).size == 8 and np.std(draws) > 10.0


def _policy(inputs):
    """A worker that heads for its goal: obs dims 0-1, goal dims 2-3."""
    return jnp.clip(inputs[..., 2:4], -1.0, 1.0)


def _window(goal, c=4):
    start = jnp.array([[0.5, 0.5]])
    states = start[:, None] + 0.1 * jnp.arange(c)[None, :, None]
    actions = _policy(
        jnp.concatenate([states, parts.window_goals(goal, start, states, DIMS)], -1)
    )
    return start, states, actions


def test_relabelling_picks_the_goal_that_explains_the_actions():
    true_goal = jnp.array([[0.8, -0.6]])
    start, states, actions = _window(true_goal)
    valid = jnp.ones((1, 4), bool)
    batch = {"obs": start, "states": states, "actions": actions, "valid": valid}
    # The stored goal is the true one: it is kept (candidate 0).
    stored = {**batch, "goal": true_goal, "next_obs": start + 0.3}
    goal, choice = parts.relabel_goals(
        jax.random.key(1), _policy, stored, DIMS, 1.0, 0.5, 0.1, 10
    )
    assert int(choice[0]) == 0
    np.testing.assert_allclose(goal, true_goal)
    # A stale goal, but the window reached the true target: the achieved
    # change explains the actions exactly (candidate 1).
    stale = {**batch, "goal": jnp.array([[-1.0, 1.0]]), "next_obs": start + true_goal}
    goal, choice = parts.relabel_goals(
        jax.random.key(1), _policy, stale, DIMS, 1.0, 0.5, 0.1, 10
    )
    assert int(choice[0]) == 1
    np.testing.assert_allclose(goal, true_goal, atol=1e-6)


def test_log_likelihood_is_gaussian_and_ignores_steps_not_taken():
    goal = jnp.array([[0.8, -0.6]])
    start, states, actions = _window(goal)
    shifted = actions.at[:, 2:].add(0.3)  # steps 2, 3 disagree with the policy
    half = jnp.array([[True, True, False, False]])
    ll = parts.action_log_likelihood(
        _policy, goal[:, None], start, states, shifted, half, 0.1, DIMS
    )
    norm = -2 * (np.log(0.1) + 0.5 * np.log(2 * np.pi))  # 2 action dims
    np.testing.assert_allclose(ll, [[2 * norm]], rtol=1e-5)
    full = parts.action_log_likelihood(
        _policy, goal[:, None], start, states, shifted, jnp.ones((1, 4), bool),
        0.1, DIMS,
    )  # fmt: skip
    np.testing.assert_allclose(full, [[4 * norm - 2 * 0.18 / (2 * 0.01)]], rtol=1e-5)


def test_window_replay_keeps_only_the_ended_windows_in_order():
    buffer = parts.window_init(4, obs_dim=2, goal_dim=2, action_dim=2, c=4)
    rows = {
        "obs": jnp.arange(8.0).reshape(4, 2), "goal": jnp.zeros((4, 2)),
        "reward": jnp.arange(4.0), "next_obs": jnp.zeros((4, 2)),
        "terminated": jnp.zeros(4, bool), "states": jnp.zeros((4, 4, 2)),
        "actions": jnp.zeros((4, 4, 2)), "valid": jnp.ones((4, 4), bool),
    }  # fmt: skip
    buffer = parts.window_add_masked(buffer, rows, jnp.array([1, 0, 1, 1], bool))
    assert int(buffer.size) == 3 and int(buffer.position) == 3
    np.testing.assert_allclose(buffer.reward, [0.0, 2.0, 3.0, 0.0])
    np.testing.assert_allclose(buffer.obs[1], [4.0, 5.0])
    batch = parts.window_sample(jax.random.key(0), buffer, 32)
    assert batch["states"].shape == (32, 4, 2)
    assert set(np.asarray(batch["reward"]).tolist()) == {0.0, 2.0, 3.0}
    buffer = parts.window_add_masked(buffer, rows, jnp.array([0, 1, 1, 0], bool))
    np.testing.assert_allclose(buffer.reward, [2.0, 2.0, 3.0, 1.0])  # wrapped
    assert int(buffer.size) == 4 and int(buffer.position) == 1


@pytest.mark.parametrize(
    "config, message",
    [({"goal_every": 0}, "goal horizon c"),
     ({"goal_dims": (0, 2)}, "goal_dims"), ({"goal_dims": ()}, "goal_dims"),
     ({"goal_dims": (1, 1)}, "goal_dims"),
     ({"num_candidates": 1}, "num_candidates"),
     ({"manager_buffer_capacity": 4, "num_steps": 10}, "manager_buffer_capacity"),
     ({"off_policy_correction": 1}, "off_policy_correction")],
)  # fmt: skip
def test_bad_config_is_refused_before_compiling(config, message):
    with pytest.raises(ValueError, match=message):
        HIRO(MAZE, **config)


def test_discrete_actions_are_refused():
    env, _ = make("CartPole-v1")
    with pytest.raises(ValueError, match="continuous"):
        HIRO(env)
