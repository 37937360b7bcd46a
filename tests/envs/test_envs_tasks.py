"""Task distributions: validation, batched sampling, derived CartPole fields."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.envs import make
from jaxmeta.envs.tasks import (
    CartPoleTasks,
    LunarLanderTasks,
    PendulumTasks,
    task_distribution,
)


def test_cartpole_tasks_vmap_to_consistent_params_that_drive_cartpole():
    env, _ = make("CartPole-v1")
    dist = CartPoleTasks(masspole=(0.1, 0.4), length=(0.3, 0.9), masscart=(0.8, 1.5))

    @jax.jit
    def sample_and_step(keys):
        params = jax.vmap(dist.sample)(keys)

        def one_step(key, env_params):
            _, state = env.reset(key, env_params)
            return env.step(key, state, 1, env_params)[0]

        return params, jax.vmap(one_step)(keys, params)

    params, obs = sample_and_step(jax.random.split(jax.random.key(0), 16))
    assert params.masspole.shape == (16,)
    np.testing.assert_allclose(
        params.total_mass, params.masscart + params.masspole, rtol=1e-6
    )
    np.testing.assert_allclose(
        params.polemass_length, params.masspole * params.length, rtol=1e-6
    )
    for name, (low, high) in [
        ("masspole", (0.1, 0.4)),
        ("length", (0.3, 0.9)),
        ("masscart", (0.8, 1.5)),
    ]:
        values = np.asarray(getattr(params, name))
        assert low <= values.min() < values.max() <= high
    # untouched fields keep CartPole-v1's values
    np.testing.assert_allclose(params.gravity, 9.8)
    assert obs.shape == (16, 4) and bool(jnp.all(jnp.isfinite(obs)))


def test_same_key_same_task_and_degenerate_range_is_constant():
    dist = PendulumTasks(g=(9.0, 9.0))
    a = dist.sample(jax.random.key(3))
    b = dist.sample(jax.random.key(3))
    assert float(a.m) == float(b.m) and float(a.l) == float(b.l)
    assert float(a.g) == 9.0
    assert float(a.max_torque) == 2.0


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"masspole": (0.0, 0.5)}, "masspole"),
        ({"masscart": (-1.0, 1.0)}, "masscart"),
        ({"length": (0.9, 0.3)}, "length"),
        ({"length": (0.3,)}, "length"),
    ],
)
def test_cartpole_tasks_reject_bad_ranges_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        CartPoleTasks(**kwargs)


def test_pendulum_tasks_reject_zero_mass():
    with pytest.raises(ValueError, match=r"^m must lie in \(0.0, inf\]"):
        PendulumTasks(m=(0.0, 1.0))


def test_lunar_lander_tasks_vary_gravity_and_drive_the_lander():
    env, env_params = make("LunarLander-v3")
    dist = task_distribution("LunarLander-v3", env_params, gravity=(-11.5, -8.5))
    assert isinstance(dist, LunarLanderTasks)

    @jax.jit
    def fall(keys):
        params = jax.vmap(dist.sample)(keys)

        def no_op_steps(key, env_params):  # 20 steps with the engines off
            _, state = env.reset(key, env_params)

            def body(state, _):
                _, state, _, _, _ = env.step_env(key, state, 0, env_params)
                return state, None

            return jax.lax.scan(body, state, None, length=20)[0]

        return params, jax.vmap(no_op_steps, in_axes=(None, 0))(keys[0], params)

    params, states = fall(jax.random.split(jax.random.key(0), 8))
    gravity = np.asarray(params.gravity)
    assert -11.5 <= gravity.min() < gravity.max() <= -8.5
    assert float(params.enable_wind[0]) == 0.0  # v3's default: no wind
    # Same start (one key), so a stronger pull means a faster fall.
    vy = np.asarray(states.body.velocity)[:, 1]
    assert np.all(np.diff(vy[np.argsort(gravity)]) > 0), (gravity, vy)
    with pytest.raises(ValueError, match="gravity"):
        task_distribution("LunarLander-v3", gravity=(-13.0, -9.0))
