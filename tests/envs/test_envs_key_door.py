"""KeyDoor's dynamics: walls and the locked door block, the key is picked
up on arrival and opens the door, the goal pays MiniGrid's reward and ends
the episode, the time limit truncates, resets draw distinct left-room cells,
and the observation says where the agent and the key are."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.envs import make
from jaxmeta.envs.key_door import KeyDoorState, make_key_door

UP, RIGHT, DOWN, LEFT = range(4)


@pytest.fixture(scope="module")
def env():
    return make("KeyDoor-v0", height=5, width=7, max_steps_in_episode=20)


def _state(pos, key_pos, has_key=False, time=0):
    return KeyDoorState(pos=jnp.array(pos, jnp.int32),
                        key_pos=jnp.array(key_pos, jnp.int32),
                        has_key=jnp.asarray(has_key), time=time)  # fmt: skip


def _step(env, state, action):
    game, params = env
    return game.step_env(jax.random.key(0), state, action, params)


def test_walls_and_the_locked_door_block(env):
    game, _ = env
    assert game.door == (2, 3) and game.goal == (3, 5)
    _, s, r, done, _ = _step(env, _state((1, 1), (3, 2)), UP)  # outer wall
    assert tuple(np.asarray(s.pos)) == (1, 1) and float(r) == 0 and not done
    _, s, _, _, _ = _step(env, _state((2, 2), (3, 2)), RIGHT)  # door, no key
    assert tuple(np.asarray(s.pos)) == (2, 2)
    _, s, _, _, _ = _step(env, _state((1, 2), (3, 2)), RIGHT)  # the middle wall
    assert tuple(np.asarray(s.pos)) == (1, 2)


def test_the_key_opens_the_door_and_the_goal_pays(env):
    game, params = env
    obs, s, _, _, _ = _step(env, _state((2, 2), (3, 2), time=3), DOWN)
    assert bool(s.has_key) and float(obs[-1]) == 1.0
    assert float(jnp.sum(obs[35:70])) == 0.0  # the carried key is not shown
    _, s, _, _, _ = _step(env, s.replace(pos=jnp.array([2, 2])), RIGHT)
    assert tuple(np.asarray(s.pos)) == (2, 3)  # through the door
    _, s, r, done, _ = _step(env, s.replace(pos=jnp.array([3, 4])), RIGHT)
    assert bool(done) and tuple(np.asarray(s.pos)) == game.goal
    np.testing.assert_allclose(float(r), 1.0 - 0.9 * int(s.time) / 20, rtol=1e-6)


def test_time_limit_truncates_and_auto_resets(env):
    game, params = env
    state = _state((1, 1), (3, 2), time=19)
    obs, nxt, r, terminated, truncated, info = game.step(
        jax.random.key(1), state, UP, params
    )
    assert bool(truncated) and not bool(terminated) and float(r) == 0.0
    assert int(nxt.time) == 0


def test_reset_draws_distinct_left_room_cells_and_observes_them():
    game, params = make_key_door(height=5, width=7)
    keys = jax.random.split(jax.random.key(0), 200)
    obs, states = jax.vmap(game.reset, in_axes=(0, None))(keys, params)
    pos, key_pos = np.asarray(states.pos), np.asarray(states.key_pos)
    assert np.all(np.any(pos != key_pos, axis=1))
    assert np.all(pos[:, 1] < game.wall_col) and np.all(key_pos[:, 1] < game.wall_col)
    assert len({tuple(p) for p in pos}) == 6  # every left-room cell drawn
    assert obs.shape == (200, 2 * 35 + 1)
    cells = 35
    np.testing.assert_array_equal(
        np.argmax(obs[:, :cells], 1), pos[:, 0] * 7 + pos[:, 1]
    )
    np.testing.assert_array_equal(
        np.argmax(obs[:, cells : 2 * cells], 1), key_pos[:, 0] * 7 + key_pos[:, 1]
    )


def test_shortest_path_goes_through_key_and_door():
    game, _ = make_key_door(height=5, width=7)
    # (1, 1) -> key (3, 2): 3 moves; key -> door (2, 3): 2; door -> goal (3, 5): 3.
    assert game.shortest_steps((1, 1), (3, 2)) == 8


@pytest.mark.parametrize(
    "options, match",
    [({"height": 4}, "height"), ({"width": 6}, "width"),
     ({"max_steps_in_episode": 0}, "max_steps_in_episode")],
)  # fmt: skip
def test_bad_options_are_refused(options, match):
    with pytest.raises(ValueError, match=match):
        make_key_door(**options)
