"""Four Rooms for options: layout, noise, rewards and hallway options checked
against Sutton, Precup and Singh (1999) and against gymnax's FourRooms-misc."""

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.envs import four_rooms as fr
from jaxmeta.envs import make


def test_layout_matches_paper_and_gymnax():
    gymnax_env, _ = gymnax.make("FourRooms-misc")
    np.testing.assert_array_equal(np.asarray(gymnax_env.env_map), fr._OPEN)
    assert fr._OPEN.shape == (13, 13) and not fr._OPEN[0].any()
    assert fr.NUM_CELLS == 104
    sizes = np.bincount(fr.ROOM_OF_CELL[fr.ROOM_OF_CELL >= 0])
    np.testing.assert_array_equal(sizes, [25, 30, 25, 20])
    np.testing.assert_array_equal(np.asarray(fr.room_of(fr.hallway_cells)), -1)
    for hallway in fr.hallway_cells:
        neighbours = fr.ROOM_OF_CELL[fr.NEXT_CELL[hallway]]
        assert len(set(neighbours[neighbours >= 0].tolist())) == 2


def move_frequencies(env, params, positions, action, n=6000):
    """For each start (row, col) in `positions`: frequency of landing at each
    (row, col) after one step. One compiled call for all starts."""
    _, state = env.reset(jax.random.key(0), params)
    starts = jnp.repeat(jnp.array(positions, jnp.int32), n, axis=0)
    states = jax.vmap(lambda pos: state.replace(pos=pos))(starts)
    keys = jax.random.split(jax.random.key(1), len(positions) * n)
    step = jax.vmap(env.step_env, in_axes=(0, 0, None, None))
    _, new_state, *_ = jax.jit(step)(keys, states, action, params)
    landed = np.asarray(new_state.pos).reshape(len(positions), n, 2)
    result = []
    for block in landed:
        cells, counts = np.unique(block, axis=0, return_counts=True)
        pairs = zip(cells.tolist(), counts, strict=True)
        result.append({tuple(c): k / n for c, k in pairs})
    return result


@pytest.mark.parametrize("source", ["ours", "gymnax"])
def test_noise_two_thirds_intended_one_ninth_each_other(source):
    if source == "ours":
        env, params = make("FourRooms-options")
    else:
        env, params = gymnax.make("FourRooms-misc")
    # Up from a room's middle, and from a corner where up and left hit walls.
    freq, corner = move_frequencies(env, params, [(3, 3), (1, 1)], action=0)
    expected = {(2, 3): 2 / 3, (3, 4): 1 / 9, (4, 3): 1 / 9, (3, 2): 1 / 9}
    assert set(freq) == set(expected)
    for cell, p in expected.items():
        assert abs(freq[cell] - p) < 4 * np.sqrt(p * (1 - p) / 6000), (cell, freq)
    assert abs(corner[(1, 1)] - 7 / 9) < 4 * np.sqrt(7 / 9 * 2 / 9 / 6000)


def test_goal_reward_termination_and_autoreset():
    env, params = make("FourRooms-options", fail_prob=0.0)
    assert tuple(np.asarray(params.goal)) == fr.DEFAULT_GOAL
    _, state = env.reset(jax.random.key(0), params)
    state = state.replace(pos=jnp.array([6, 9], jnp.int32))  # above the hallway
    obs, new_state, reward, term, trunc, info = env.step(
        jax.random.key(1), state, 2, params
    )
    assert float(reward) == 1.0 and bool(term) and not bool(trunc)
    assert int(info["final_observation"]) == fr.CELL_INDEX[7, 9]
    assert int(new_state.time) == 0 and int(obs) != fr.CELL_INDEX[7, 9]
    state = state.replace(pos=jnp.array([2, 2], jnp.int32))
    _, _, reward, term, _, _ = env.step(jax.random.key(1), state, 2, params)
    assert float(reward) == 0.0 and not bool(term)


def test_reset_is_uniform_over_non_goal_cells():
    env, params = make("FourRooms-options")
    keys = jax.random.split(jax.random.key(0), 10300)
    obs, _ = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(keys, params)
    counts = np.bincount(np.asarray(obs), minlength=fr.NUM_CELLS)
    goal = fr.CELL_INDEX[fr.DEFAULT_GOAL]
    assert counts[goal] == 0
    others = np.delete(counts, goal)
    assert others.min() > 50 and others.max() < 150  # mean 100, 5 sigma


def test_hallway_options_reach_their_hallway_by_a_shortest_path():
    options = fr.hallway_options()
    assert options.initiation.shape == (8, 104)
    for k in range(8):
        room, target = options.room[k], options.target[k]
        assert fr.ROOM_OF_CELL[target] == -1
        starts = np.flatnonzero(options.initiation[k])
        assert len(starts) == np.sum(fr.ROOM_OF_CELL == room) + 1
        target_rc = fr.CELLS[target]
        for cell in starts:
            steps, current = 0, cell
            while True:
                current = fr.NEXT_CELL[current, options.policy[k, current]]
                steps += 1
                if options.termination[k, current] == 1.0 or steps > 20:
                    break
            assert current == target, (k, cell)
            # Rooms are rectangles, so a shortest path is a Manhattan path.
            assert steps == np.abs(fr.CELLS[cell] - target_rc).sum(), (k, cell)


def test_obs_modes_jit_vmap_and_validation():
    env, params = make("FourRooms-options")
    keys = jax.random.split(jax.random.key(0), 3)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    obs, state, *_ = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))(
        keys, state, jnp.array([0, 1, 2]), params
    )
    assert obs.shape == (3,) and obs.dtype == jnp.int32
    one_state = jax.tree.map(lambda x: x[0], state)
    for mode, shape in [("one_hot", (104,)), ("coords", (4,))]:
        other, _ = make("FourRooms-options", obs_mode=mode)
        assert other.get_obs(one_state).shape == shape
    assert int(jnp.argmax(fr.FourRoomsOptions("one_hot").get_obs(one_state))) == int(
        obs[0]
    )
    env, params = make("FourRooms-options", start=(1, 1), goal=(11, 11))
    obs, _ = env.reset(jax.random.key(5), params)
    assert int(obs) == fr.CELL_INDEX[1, 1]
    with pytest.raises(ValueError, match="goal"):
        make("FourRooms-options", goal=(0, 0))
    with pytest.raises(ValueError, match="fail_prob"):
        make("FourRooms-options", fail_prob=1.5)
    with pytest.raises(ValueError, match="obs_mode"):
        make("FourRooms-options", obs_mode="pixels")


def test_goal_task_distribution():
    keys = jax.random.split(jax.random.key(0), 64)
    tasks = jax.jit(jax.vmap(fr.FourRoomsGoalTasks("hallways").sample))(keys)
    goals = {tuple(g) for g in np.asarray(tasks.goal).tolist()}
    assert goals == {tuple(h) for h in fr.HALLWAYS.tolist()}
    tasks = jax.jit(jax.vmap(fr.FourRoomsGoalTasks("rooms").sample))(keys)
    cells = fr.CELL_INDEX[tuple(np.asarray(tasks.goal).T)]
    assert np.all(fr.ROOM_OF_CELL[cells] >= 0)
    with pytest.raises(ValueError, match="goal_set"):
        fr.FourRoomsGoalTasks("corners")
