"""Continuous-force CartPole: equals CartPole-v1 at full force, tasks, vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments.classic_control.cartpole import CartPole

from jaxmeta.envs import make
from jaxmeta.envs.cartpole_continuous import CartPoleContinuousTasks


def test_full_force_matches_discrete_cartpole_and_half_force_differs():
    env, params = make("CartPoleContinuous-v1")
    discrete = CartPole()
    _, state = env.reset(jax.random.key(0), params)
    key = jax.random.key(0)

    @jax.jit
    def next_obs(forces, actions):
        ours = jax.vmap(lambda f: env.step_env(key, state, f, params)[0])(forces)
        theirs = jax.vmap(lambda a: discrete.step_env(key, state, a, params)[0])(
            actions
        )
        return ours, theirs

    ours, theirs = next_obs(jnp.array([[1.0], [-1.0], [3.0], [0.5]]), jnp.array([1, 0]))
    # full force (and a force clipped to it) equals CartPole-v1's two actions
    np.testing.assert_allclose(ours[:3], theirs[jnp.array([0, 1, 0])], rtol=1e-6)
    half_push, full_push = ours[3, 1] - state.x_dot, ours[0, 1] - state.x_dot
    assert 0 < float(half_push) < float(full_push)


def test_mass_and_length_tasks_vmap_and_change_dynamics():
    env, _ = make("CartPoleContinuous-v1")
    keys = jax.random.split(jax.random.key(1), 4)
    tasks = CartPoleContinuousTasks()

    def run(key, params):
        _, state = env.reset(jax.random.key(0), params)

        def body(state, key_step):
            obs, state, reward, term, trunc, _ = env.step(
                key_step, state, jnp.array([0.3]), params
            )
            return state, obs

        return jax.lax.scan(body, state, jax.random.split(key, 5))[1]

    @jax.jit
    def sample_and_run(keys):
        params = jax.vmap(tasks.sample)(keys)
        return params, jax.vmap(run)(keys, params)

    params, obs = sample_and_run(keys)
    np.testing.assert_allclose(
        params.polemass_length, params.masspole * params.length, rtol=1e-6
    )
    assert obs.shape == (4, 5, 4)
    assert float(jnp.std(obs[:, -1, 3])) > 0  # tasks really differ


def test_factory_derives_fields_and_validates():
    _, params = make("CartPoleContinuous-v1", masspole=0.3, length=0.8)
    assert params.total_mass == pytest.approx(1.3)
    assert params.polemass_length == pytest.approx(0.24)
    with pytest.raises(ValueError, match="masspole"):
        make("CartPoleContinuous-v1", masspole=0.0)
    env, params = make("CartPoleContinuous-v1")
    space = env.action_space(params)
    assert space.shape == (1,) and float(space.low) == -1.0
