"""PointUMaze: free space, moves stopped by the wall and the arena, the
deceptive reward, no termination, truncation at the limit, bad params."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.envs import make
from jaxmeta.envs.point_maze import is_free, move, success

ENV, PARAMS = make("PointUMaze-v0", start_noise=0.0)


def test_free_space_is_a_u():
    for point, free in [
        ((0.5, 0.5), True), ((2.5, 1.5), True), ((0.5, 2.5), True),
        ((1.0, 1.5), False), ((0.5, 1.01), False), ((3.2, 0.5), False),
        ((2.0, 1.5), True),  # the wall's boundary is free
    ]:  # fmt: skip
        assert bool(is_free(jnp.array(point))) is free, point


def test_wall_stops_the_straight_line_and_the_other_axis_still_moves():
    below = jnp.array([0.5, 0.95])
    np.testing.assert_allclose(move(below, jnp.array([0.1, 0.1])), [0.6, 0.95])
    np.testing.assert_allclose(move(below, jnp.array([0.0, -0.1])), [0.5, 0.85])
    corner = jnp.array([2.95, 0.05])
    np.testing.assert_allclose(move(corner, jnp.array([0.1, -0.1])), corner)


def test_step_moves_by_max_speed_times_the_clipped_action():
    obs, state = ENV.reset(jax.random.key(0), PARAMS)
    np.testing.assert_allclose(obs, [0.5, 0.5])
    obs, state, reward, terminated, truncated, info = ENV.step(
        jax.random.key(1), state, jnp.array([3.0, -0.5]), PARAMS
    )
    np.testing.assert_allclose(obs, [0.65, 0.425], atol=1e-6)
    np.testing.assert_allclose(reward, -np.hypot(0.15, 2.075), rtol=1e-5)
    assert not bool(terminated) and not bool(truncated)


def test_pushing_up_ends_in_the_dead_end_and_is_truncated_at_the_limit():
    _, state = ENV.reset(jax.random.key(0), PARAMS)

    def body(state, key):
        out = ENV.step(key, state, jnp.array([0.0, 1.0]), PARAMS)
        return out[1], out[2:5] + (out[5]["final_observation"],)

    _, (reward, terminated, truncated, final) = jax.lax.scan(
        body, state, jax.random.split(jax.random.key(2), 100)
    )
    assert not np.any(terminated)
    assert np.flatnonzero(truncated).tolist() == [99]
    assert 0.85 < float(final[-1, 1]) <= 1.0  # stopped below the wall
    assert float(reward[-1]) < -1.5 + 1e-6  # the deceptive local optimum
    assert not bool(success(final[-1], PARAMS))
    assert bool(success(jnp.array([0.6, 2.4]), PARAMS))


def test_start_noise_stays_in_its_box():
    env, params = make("PointUMaze-v0")
    keys = jax.random.split(jax.random.key(3), 64)
    obs, _ = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    assert np.all(np.abs(np.asarray(obs) - 0.5) <= 0.1 + 1e-6)


@pytest.mark.parametrize(
    "override, field",
    [({"goal": jnp.array([1.0, 1.5])}, "goal"), ({"start": jnp.zeros(3)}, "start"),
     ({"max_speed": 1.5}, "max_speed"), ({"success_radius": 0.0}, "success_radius"),
     ({"max_steps_in_episode": 0}, "max_steps_in_episode")],
)  # fmt: skip
def test_bad_params_are_refused(override, field):
    with pytest.raises(ValueError, match=field):
        make("PointUMaze-v0", **override)


def test_goal_conditioned_maze_draws_free_goals_and_rewards_by_them():
    env, params = make("PointUMazeGoals-v0", start_noise=0.0)
    assert bool(params.random_goal) and env.observation_space(params).shape == (4,)
    keys = jax.random.split(jax.random.key(4), 512)
    obs, states = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    goals = np.asarray(obs[:, 2:])
    assert all(bool(is_free(g)) for g in goals)
    # All seven free cells are drawn, the wall's two never.
    cells = {tuple(c) for c in np.floor(goals).astype(int).tolist()}
    assert cells == {(0, 0), (1, 0), (2, 0), (2, 1), (2, 2), (1, 2), (0, 2)}
    _, _, reward, _, _, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
        keys, states, jnp.zeros((512, 2)), params
    )
    distance = np.linalg.norm(goals - 0.5, axis=1)
    np.testing.assert_allclose(np.asarray(reward), -distance, rtol=1e-5, atol=1e-5)
    assert np.all(np.asarray(info["success"]) == (distance < 0.5))
    # The evaluation task: the fixed far goal, in the observation too.
    _, fixed = make("PointUMazeGoals-v0", random_goal=False)
    obs, _ = env.reset(keys[0], fixed)
    np.testing.assert_allclose(np.asarray(obs[2:]), [0.5, 2.5])


def test_random_goal_needs_the_goal_conditioned_maze():
    with pytest.raises(ValueError, match="random_goal"):
        make("PointUMaze-v0", random_goal=True)
