"""Taxi-v3 against Gymnasium's Taxi (rainy/fickle off), bit for bit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.envs import make
from jaxmeta.envs import taxi as taxi_module

gym = pytest.importorskip("gymnasium")


@pytest.fixture(scope="module")
def reference():
    """Gymnasium's Taxi with the 200-step TimeLimit (v4 == v3 when dry)."""
    return gym.make("Taxi-v4", is_rainy=False, fickle_passenger=False)


def test_every_state_action_matches_gymnasium_table(reference):
    table = reference.unwrapped.P
    states = jnp.repeat(jnp.arange(500, dtype=jnp.int32), 6)
    actions = jnp.tile(jnp.arange(6, dtype=jnp.int32), 500)
    next_states, rewards, terminated = jax.device_get(
        jax.jit(taxi_module.transition)(states, actions)
    )
    masks = np.asarray(jax.jit(taxi_module.action_mask)(jnp.arange(500)))
    mismatches = []
    for i, (s, a) in enumerate(
        zip(np.asarray(states), np.asarray(actions), strict=True)
    ):
        ((prob, s_ref, r_ref, t_ref),) = table[int(s)][int(a)]
        got = (int(next_states[i]), float(rewards[i]), bool(terminated[i]))
        if prob != 1.0 or got != (s_ref, float(r_ref), bool(t_ref)):
            mismatches.append((int(s), int(a), got, (s_ref, r_ref, t_ref)))
    assert mismatches == []
    ref_masks = np.stack([reference.unwrapped.action_mask(s) for s in range(500)])
    np.testing.assert_array_equal(masks, ref_masks)


def test_encode_decode_match_gymnasium(reference):
    states = np.arange(500)
    ours = np.stack(taxi_module.decode(jnp.asarray(states)), axis=1)
    ref = np.array([reference.unwrapped.decode(int(s)) for s in states])
    np.testing.assert_array_equal(ours, ref)
    assert np.array_equal(np.asarray(taxi_module.encode(*ours.T)), states)


def test_initial_state_support_and_uniformity(reference):
    ref_support = np.flatnonzero(reference.unwrapped.initial_state_distrib)
    np.testing.assert_array_equal(taxi_module.initial_state_support(), ref_support)
    env, params = make("Taxi-v3")
    keys = jax.random.split(jax.random.key(0), 30000)
    _, states = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(keys, params)
    counts = np.bincount(np.asarray(states.state), minlength=500)
    assert set(np.flatnonzero(counts)) == set(ref_support)
    # 100 expected per start state; 5 sigma band.
    assert counts[ref_support].min() > 50 and counts[ref_support].max() < 150


def test_random_episodes_from_every_start_match_with_time_limit(reference):
    env, params = make("Taxi-v3")
    rng = np.random.default_rng(0)
    starts = taxi_module.initial_state_support()
    num_steps = 205  # past the 200-step truncation
    actions = rng.integers(0, 6, size=(starts.size, num_steps)).astype(np.int32)

    def rollout(start, action_seq):
        state = taxi_module.TaxiState(state=start, time=jnp.int32(0))

        def body(state, action):
            obs, nxt, reward, term, _ = env.step_env(
                jax.random.key(0), state, action, params
            )
            trunc = env.is_truncated(nxt, params)
            return nxt, (obs, reward, term, trunc)

        return jax.lax.scan(body, state, action_seq)[1]

    obs, rewards, terms, truncs = jax.jit(jax.vmap(rollout))(
        jnp.asarray(starts), jnp.asarray(actions)
    )
    obs, rewards, terms, truncs = map(np.asarray, (obs, rewards, terms, truncs))
    for i, start in enumerate(starts):
        reference.reset(seed=0)
        reference.unwrapped.s = int(start)
        for t in range(num_steps):
            o, r, term, trunc, _ = reference.step(int(actions[i, t]))
            got = (int(obs[i, t]), float(rewards[i, t]), terms[i, t], truncs[i, t])
            assert got == (o, float(r), term, trunc), (int(start), t)
            if term or trunc:
                break


def test_step_autoresets_and_one_hot_obs():
    env, params = make("Taxi-v3", obs_mode="one_hot")
    obs, state = env.reset(jax.random.key(1), params)
    assert obs.shape == (500,) and float(obs.sum()) == 1.0
    # Taxi at Y (4,0) with passenger aboard, destination Y: dropoff delivers.
    state = state.replace(state=jnp.int32(taxi_module.encode(4, 0, 4, 2)))
    obs, new_state, reward, term, trunc, info = env.step(
        jax.random.key(2), state, 5, params
    )
    assert float(reward) == 20.0 and bool(term) and not bool(trunc)
    assert int(new_state.time) == 0
    assert int(new_state.state) in set(taxi_module.initial_state_support())
    assert int(jnp.argmax(info["final_observation"])) == taxi_module.encode(4, 0, 2, 2)


def test_bad_options_raise():
    with pytest.raises(ValueError, match="obs_mode"):
        make("Taxi-v3", obs_mode="pixels")
    with pytest.raises(ValueError, match="max_steps_in_episode"):
        make("Taxi-v3", max_steps_in_episode=0)
