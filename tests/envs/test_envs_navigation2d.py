"""Navigation2D: clipping, reward, termination radius, tasks, jit and vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.envs import make
from jaxmeta.envs.navigation2d import Navigation2DState, Navigation2DTasks

ENV, _ = make("Navigation2D-v0")


@jax.jit
def _step(position, time, action, goal):
    """One step from a given position and step count, compiled once."""
    _, params = make("Navigation2D-v0", goal=goal)
    state = Navigation2DState(position=position, time=time)
    return ENV.step(jax.random.key(0), state, action, params)


def test_actions_are_clipped_and_reward_is_negative_distance():
    obs, _, reward, term, trunc, _ = _step(
        jnp.zeros(2), 0, jnp.array([0.5, -0.04]), jnp.array([0.3, -0.2])
    )
    np.testing.assert_allclose(obs, [0.1, -0.04], rtol=1e-6)
    np.testing.assert_allclose(reward, -np.hypot(0.2, 0.16), rtol=1e-6)
    assert not bool(term) and not bool(trunc)


def test_terminates_within_radius_and_truncates_at_100_steps():
    goal = jnp.array([0.3, 0.0])
    push = jnp.array([0.1, 0.0])
    _, _, _, term, _, _ = _step(jnp.array([0.205, 0.0]), 3, push, goal)
    assert bool(term)  # 0.005 from the goal
    _, _, _, term, _, _ = _step(jnp.array([0.15, 0.0]), 3, push, goal)
    assert not bool(term)  # 0.05 from the goal
    obs, state, _, term, trunc, _ = _step(jnp.zeros(2), 99, push[::-1], goal)
    assert bool(trunc) and not bool(term)
    assert int(state.time) == 0  # auto-reset to the start
    np.testing.assert_array_equal(obs, [0.0, 0.0])


def test_greedy_walk_reaches_each_sampled_goal_vmapped():
    env, _ = make("Navigation2D-v0")
    keys = jax.random.split(jax.random.key(2), 6)
    tasks = jax.vmap(Navigation2DTasks().sample)(keys)
    assert tasks.goal.shape == (6, 2)
    assert float(jnp.max(jnp.abs(tasks.goal))) <= 0.5

    def episode(key, params):
        _, state = env.reset(key, params)

        def body(state, key_step):
            action = params.goal - state.position
            _, state, reward, term, _, _ = env.step(key_step, state, action, params)
            return state, term

        return jnp.any(jax.lax.scan(body, state, jax.random.split(key, 10))[1])

    assert bool(jnp.all(jax.jit(jax.vmap(episode))(keys, tasks)))


def test_goal_outside_the_arena_is_rejected():
    with pytest.raises(ValueError, match="goal"):
        Navigation2DTasks(goal=(-0.7, 0.5))
    with pytest.raises(ValueError, match="arena_half_width"):
        Navigation2DTasks(arena_half_width=0.0)
    wide = Navigation2DTasks(goal=(-1.0, 1.0), arena_half_width=1.0)
    assert wide.goal == (-1.0, 1.0)
