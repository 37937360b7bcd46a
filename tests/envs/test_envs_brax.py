"""Brax adapter: gymnax contract, auto-reset, truncation, spaces, validation."""

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.envs import make
from jaxmeta.envs.brax import BraxEnv


def test_importing_jaxmeta_envs_does_not_import_brax():
    import subprocess

    code = "import sys, jaxmeta.envs; print('brax' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert out.stdout.strip() == "False", out.stderr


def test_bad_names_and_backends_raise_before_building():
    with pytest.raises(ValueError, match="backend"):
        BraxEnv("inverted_pendulum", backend="warp")
    with pytest.raises(ValueError, match="env_name"):
        BraxEnv("cartpole")
    with pytest.raises(ValueError, match="max_steps_in_episode"):
        make("brax-inverted_pendulum", max_steps_in_episode=0)


@pytest.mark.slow
def test_inverted_pendulum_jits_vmaps_truncates_and_auto_resets():
    env, params = make("brax-inverted_pendulum", max_steps_in_episode=3)
    space = env.action_space(params)
    np.testing.assert_array_equal(space.low, [-3.0])
    np.testing.assert_array_equal(space.high, [3.0])
    assert env.observation_space(params).shape == (4,)

    def rollout(key):
        obs, state = env.reset(key, params)

        def body(state, key_step):
            obs, state, reward, term, trunc, _ = env.step(
                key_step, state, jnp.zeros(1), params
            )
            return state, (obs, reward, term, trunc, state.time)

        return jax.lax.scan(body, state, jax.random.split(key, 4))[1]

    keys = jax.random.split(jax.random.key(0), 2)
    obs, reward, term, trunc, time = jax.jit(jax.vmap(rollout))(keys)
    assert obs.shape == (2, 4, 4) and bool(jnp.all(jnp.isfinite(obs)))
    # zero force keeps a near-upright pole up: reward 1, no termination
    np.testing.assert_array_equal(reward, 1.0)
    assert not bool(jnp.any(term))
    np.testing.assert_array_equal(trunc, [[False, False, True, False]] * 2)
    np.testing.assert_array_equal(time, [[1, 2, 0, 1]] * 2)
    assert not np.allclose(obs[0], obs[1])  # different keys, different starts


@pytest.mark.slow
def test_ant_builds_with_bounded_action_space():
    env, params = make("brax-ant", backend="positional")
    assert env.backend == "positional"
    space = env.action_space(params)
    assert space.shape == (8,)
    np.testing.assert_array_equal(space.low, -np.ones(8))
    np.testing.assert_array_equal(space.high, np.ones(8))
    assert params.max_steps_in_episode == 1000
