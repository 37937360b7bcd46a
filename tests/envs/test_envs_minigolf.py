"""Minigolf: the v_min / v_max rule, noise, tasks, jit and vmap over tasks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.envs import make
from jaxmeta.envs.minigolf import (
    BALL_RADIUS,
    MinigolfParams,
    MinigolfState,
    MinigolfTasks,
    speed_bounds,
    truncated_noise,
)

ENV, _ = make("Minigolf-v0")
NOISELESS = MinigolfParams(
    putter_length=1.0, friction=0.131, hole_size=0.1, noise_variance=0.0
)


@jax.jit
def _putt(distance, action, params=NOISELESS):
    """One putt from `distance`, compiled once for every dynamics test."""
    state = MinigolfState(distance=jnp.float32(distance), time=0)
    return ENV.step_env(jax.random.key(0), state, jnp.array([action]), params)


def test_speed_bounds_match_the_formulas():
    v_min, v_max = speed_bounds(4.0, 0.131, 0.1)
    expected_min = np.sqrt(10 / 7 * 0.131 * 9.81 * 4.0)
    expected_max = np.sqrt(
        (2 * 0.1 - BALL_RADIUS) ** 2 * 9.81 / (2 * BALL_RADIUS) + expected_min**2
    )
    np.testing.assert_allclose([v_min, v_max], [expected_min, expected_max], 1e-6)


def test_short_holed_and_overshot_putts():
    v_min, v_max = (float(v) for v in speed_bounds(4.0, 0.131, 0.1))
    # short: -1, continues, ball advances by v^2 / (2 d)
    obs, state, reward, done, info = _putt(4.0, 0.5 * v_min)
    d = 5 / 7 * 0.131 * 9.81
    assert float(reward) == -1.0 and not bool(done)
    np.testing.assert_allclose(obs, [4.0 - (0.5 * v_min) ** 2 / (2 * d)], rtol=1e-5)
    # holed: 0, ends
    _, _, reward, done, _ = _putt(4.0, 0.5 * (v_min + v_max))
    assert float(reward) == 0.0 and bool(done)
    # overshoot: -100, ends (v_max < 5 here, the action bound)
    assert v_max * 1.05 < 5.0
    _, _, reward, done, _ = _putt(4.0, v_max * 1.05)
    assert float(reward) == -100.0 and bool(done)


def test_actions_are_clipped_to_0_5_and_putter_scales_speed():
    params = NOISELESS.replace(putter_length=0.8)
    _, _, _, _, info = _putt(19.0, 7.0, params)
    np.testing.assert_allclose(info["speed"], 5.0 * 0.8, rtol=1e-6)
    _, _, _, _, info = _putt(19.0, -3.0, params)
    assert float(info["speed"]) == 0.0


def test_noise_is_truncated_and_has_the_task_variance():
    keys = jax.random.split(jax.random.key(0), (2, 4000))
    variances = jnp.array([[0.09], [4.0]])
    eps = jax.jit(jax.vmap(jax.vmap(truncated_noise)))(
        keys, jnp.broadcast_to(variances, (2, 4000))
    )
    assert float(jnp.max(jnp.abs(eps))) <= 1.0
    # N(0, 0.3^2) truncated at 3.33 sigma keeps almost all its variance
    assert abs(float(jnp.var(eps[0])) - 0.09) < 0.008
    # N(0, 2^2) truncated at 0.5 sigma is nearly uniform on [-1, 1]
    assert 0.28 < float(jnp.var(eps[1])) < 0.34


def test_episode_runs_jitted_and_vmapped_over_tasks():
    env = ENV
    keys = jax.random.split(jax.random.key(2), 16)

    def rollout(key, params):
        obs, state = env.reset(key, params)
        assert obs.shape == (1,)

        def body(state, key_step):
            _, state, reward, term, trunc, _ = env.step(
                key_step, state, jnp.array([1.0]), params
            )
            return state, (reward, term, trunc)

        return jax.lax.scan(body, state, jax.random.split(key, 25))[1]

    @jax.jit
    def sample_and_roll(keys):
        tasks = jax.vmap(MinigolfTasks().sample)(keys)
        return tasks, jax.vmap(rollout)(keys, tasks)

    tasks, (rewards, term, trunc) = sample_and_roll(keys)
    # the authors' ranges
    for name, (low, high) in [
        ("putter_length", (0.7, 1.0)),
        ("friction", (0.1, 0.15)),
        ("hole_size", (0.1, 0.15)),
    ]:
        values = np.asarray(getattr(tasks, name))
        assert low <= values.min() < values.max() <= high
    np.testing.assert_allclose(tasks.noise_variance, 0.09)
    assert rewards.shape == (16, 25)
    assert set(np.unique(rewards)).issubset({-1.0, -100.0, 0.0})
    # action 1 rolls the ball about half a metre: far starts reach the 20-step limit
    assert bool(jnp.any(trunc))
    assert bool(jnp.any(term))  # near starts get holed
    assert not bool(jnp.any(term & trunc))


def test_tasks_validation_names_the_field():
    with pytest.raises(ValueError, match="friction"):
        MinigolfTasks(friction=(-0.1, 0.15))
    with pytest.raises(ValueError, match="hole_size"):
        MinigolfTasks(hole_size=(0.0, 0.1))
    with pytest.raises(ValueError, match="putter_length"):
        MinigolfTasks(putter_length=(1.0, 0.7))
    with pytest.raises(ValueError, match="friction"):
        make("Minigolf-v0", friction=-0.1)
