"""The h-DQN stochastic decision process: dynamics by sampling, the reward
rule, termination and truncation, the hidden flag, and the optimal
expected reward."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.envs import make
from jaxmeta.envs.stochastic_chain import (
    ChainState,
    optimal_expected_reward,
)

N = 4000


def _state(s, visited=False, time=0):
    return ChainState(
        state=jnp.asarray(s, jnp.int32), visited=jnp.asarray(visited), time=time
    )


@jax.jit
def _sample(key, s, action, params):
    env, _ = make("StochasticChain-v0")
    step = jax.vmap(env.step_env, in_axes=(0, None, None, None))
    return step(jax.random.split(key, N), _state(s), action, params)[1].state


def _moves(env, params, s, action):
    """Next states [N] of `action` in state `s`."""
    return np.asarray(_sample(jax.random.key(s * 10 + action), s, action, params))


def test_reset_and_observations():
    env, params = make("StochasticChain-v0")
    obs, state = env.reset(jax.random.key(0), params)
    assert int(obs) == 1 and int(state.state) == 1 and not bool(state.visited)
    hot_env, _ = make("StochasticChain-v0", obs_mode="one_hot")
    obs, _ = hot_env.reset(jax.random.key(0), params)
    np.testing.assert_array_equal(obs, np.eye(6)[1])
    # The visited flag is not observed.
    for e in (env, hot_env):
        np.testing.assert_array_equal(
            e.get_obs(_state(3, False)), e.get_obs(_state(3, True))
        )


def test_left_always_moves_left_right_succeeds_half_the_time():
    env, params = make("StochasticChain-v0")
    for s in range(1, 6):
        new = _moves(env, params, s, 0)
        assert np.all(new == s - 1)
    for s in range(1, 5):
        new = _moves(env, params, s, 1)
        assert set(np.unique(new)) == {s - 1, s + 1}
        assert abs(np.mean(new == s + 1) - 0.5) < 4 * np.sqrt(0.25 / N)
    new = _moves(env, params, 5, 1)  # s6: success stays, failure left
    assert set(np.unique(new)) == {4, 5}
    assert abs(np.mean(new == 5) - 0.5) < 4 * np.sqrt(0.25 / N)


def _play(env, params, actions):
    obs, state = env.reset(jax.random.key(0), params)
    out = []
    for i, action in enumerate(actions):
        obs, state, reward, terminated, truncated, _ = env.step(
            jax.random.key(i + 1), state, action, params
        )
        reward = round(float(reward), 6)
        out.append((int(obs), reward, bool(terminated), bool(truncated)))
    return out


def test_reward_rule_and_termination():
    env, params = make("StochasticChain-v0", p_right=1.0, max_steps_in_episode=50)
    # Straight to s1: 0.01, terminated, auto-reset to s2.
    assert _play(env, params, [0]) == [(1, 0.01, True, False)]
    # s2 -> s6 -> s1: 1 on arriving in s1, 0 before.
    steps = _play(env, params, [1, 1, 1, 1, 0, 0, 0, 0, 0])
    assert [s[1] for s in steps] == [0.0] * 8 + [1.0]
    assert [s[2] for s in steps] == [False] * 8 + [True]
    # Short of s6 (s5 and back): 0.01.
    steps = _play(env, params, [1, 1, 1, 0, 0, 0, 0])
    assert steps[-1][1:3] == (0.01, True)
    # The flag does not survive the reset.
    steps = _play(env, params, [1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    assert steps[-1][1:3] == (0.01, True)


def test_truncation_pays_nothing():
    env, params = make("StochasticChain-v0", p_right=1.0, max_steps_in_episode=7)
    steps = _play(env, params, [1] * 7)
    assert steps[-1] == (1, 0.0, False, True)
    assert not any(s[2] or s[3] for s in steps[:-1])


def test_optimal_expected_reward_derived_and_sampled():
    # Gambler's ruin: s6 before s1 from s2 with probability 1/5.
    assert optimal_expected_reward(max_steps=None) == pytest.approx(0.208, abs=1e-9)
    assert optimal_expected_reward(max_steps=100) == pytest.approx(0.208, abs=1e-6)
    assert optimal_expected_reward(p_right=1.0, max_steps=None) == 1.0
    # Without the flag (it is not observed) the best is the same 0.208:
    # going right until s6, then left, sampled.
    env, params = make("StochasticChain-v0", max_steps_in_episode=100)
    count = 8_000

    def episode(key):
        _, state = env.reset(key, params)

        def body(carry, key):
            state, total, done = carry
            action = jnp.where(state.visited, 0, 1)
            _, new, reward, terminated, truncated, _ = env.step(
                key, state, action, params
            )
            total = total + jnp.where(done, 0.0, reward)
            return (new, total, done | terminated | truncated), None

        init = (state, jnp.float32(0.0), jnp.asarray(False))
        (_, total, done), _ = jax.lax.scan(body, init, jax.random.split(key, 100))
        return total, done

    totals, done = jax.jit(jax.vmap(episode))(
        jax.random.split(jax.random.key(1), count)
    )
    assert bool(jnp.all(done))
    mean, se = float(totals.mean()), float(totals.std()) / np.sqrt(count)
    assert abs(mean - 0.208) < 4 * se


@pytest.mark.parametrize(
    "options, match",
    [
        ({"obs_mode": "pixels"}, "obs_mode must be one of"),
        ({"p_right": 1.5}, "p_right must be in"),
        ({"max_steps_in_episode": 0}, "max_steps_in_episode must be a positive"),
    ],
)
def test_bad_options_are_refused(options, match):
    with pytest.raises(ValueError, match=match):
        make("StochasticChain-v0", **options)
