"""Parity of the registered classic-control envs with Gymnasium.

Gymnasium drives each episode (float64 state). Before every step our env is set
to Gymnasium's state (rounded to float32) and elapsed-step count; both take the
same action and we compare obs, reward, terminated and truncated of that one
step. A second check runs both free from the same start for a few steps, so
float32-vs-float64 drift is measured too. Any mismatch is listed in the failure
message: which env, which step, ours vs Gymnasium's.

Findings (gymnax 1.0.1 vs Gymnasium 1.3): no difference beyond float32
rounding, so jaxmeta registers no replacement and these names fall through to
gymnax. One-step max obs errors: CartPole 2.4e-7, MountainCar 1.2e-7, Acrobot
9.5e-7, Pendulum 3.6e-6; rewards, terminated and truncated identical (Pendulum's
reward within 1.2e-5 of float64). Tie-only difference: Acrobot's wrap sends an
angle of exactly +pi to -pi where Gymnasium keeps +pi. Table in docs/envs.md.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.envs import make

gym = pytest.importorskip("gymnasium")

MAX_STEPS = {"CartPole-v1": 500, "MountainCar-v0": 200, "Acrobot-v1": 500}
MAX_STEPS["Pendulum-v1"] = 200
# Per-step obs tolerance: float32 rounding of one step of float64 dynamics.
OBS_ATOL = {"CartPole-v1": 1e-5, "MountainCar-v0": 1e-6, "Acrobot-v1": 1e-4}
OBS_ATOL["Pendulum-v1"] = 1e-5


def state_of(name, unwrapped):
    """Gymnasium's internal state as a float64 vector."""
    return np.asarray(unwrapped.state, dtype=np.float64).reshape(-1)


FIELDS = {
    "CartPole-v1": ("x", "x_dot", "theta", "theta_dot"),
    "MountainCar-v0": ("position", "velocity"),
    "Acrobot-v1": ("joint_angle1", "joint_angle2", "velocity_1", "velocity_2"),
    "Pendulum-v1": ("theta", "theta_dot"),
}


def to_ours(name, env, vectors, times):
    """Our env states from Gymnasium state vectors [n, d] (rounded to float32)
    and step counts [n]; a batched state with leading axis n."""
    _, template = env.reset(jax.random.key(0), env.default_params)
    n = len(times)
    batch = jax.tree.map(lambda x: jnp.broadcast_to(x, (n, *jnp.shape(x))), template)
    values = jnp.asarray(np.asarray(vectors).reshape(n, -1), jnp.float32)
    fields = {f: values[:, i] for i, f in enumerate(FIELDS[name])}
    return batch.replace(**fields, time=jnp.asarray(times, jnp.int32))


def choose_action(name, rng, vector, greedy):
    """Random actions, mixed with an energy-pumping rule so that MountainCar and
    Acrobot also reach their terminal states."""
    if name == "Pendulum-v1":
        return np.array([rng.uniform(-2.5, 2.5)], dtype=np.float32)  # beyond clip
    if not greedy or name == "CartPole-v1":
        return int(rng.integers(0, 2 if name == "CartPole-v1" else 3))
    velocity = vector[1] if name == "MountainCar-v0" else vector[3]
    return 2 if velocity >= 0 else 0


def collect(name, num_episodes, seed):
    """Gymnasium transitions: list of (state, time, action, obs, r, term, trunc)."""
    reference = gym.make(name)
    rng = np.random.default_rng(seed)
    rows = []
    for episode in range(num_episodes):
        reference.reset(seed=seed + episode)
        # Some episodes start near the time limit so truncation is exercised.
        if episode % 3 == 2:
            reference._elapsed_steps = MAX_STEPS[name] - 4
        greedy = episode % 2 == 1
        while True:
            vector = state_of(name, reference.unwrapped)
            time = reference._elapsed_steps
            action = choose_action(name, rng, vector, greedy and rng.random() < 0.8)
            obs, reward, term, trunc, _ = reference.step(action)
            rows.append((vector, time, action, obs, float(reward), term, trunc))
            if term or trunc:
                break
    return rows


@pytest.mark.parametrize("name", list(MAX_STEPS))
def test_one_step_parity_with_gymnasium(name):
    env, params = make(name)
    assert params.max_steps_in_episode == MAX_STEPS[name]
    assert gym.spec(name).max_episode_steps == MAX_STEPS[name]
    rows = collect(name, num_episodes=6, seed=0)
    batch = to_ours(name, env, [r[0] for r in rows], [r[1] for r in rows])
    actions = jnp.asarray(np.stack([np.asarray(r[2]) for r in rows]))

    def one_step(state, action):
        obs, nxt, reward, term, _ = env.step_env(
            jax.random.key(0), state, action, params
        )
        return obs, reward, term, env.is_truncated(nxt, params)

    obs, rewards, terms, truncs = jax.device_get(
        jax.jit(jax.vmap(one_step))(batch, actions)
    )
    ref_obs = np.stack([r[3] for r in rows])
    problems = []
    obs_error = np.abs(np.asarray(obs) - ref_obs).max(axis=-1)
    for i in np.flatnonzero(obs_error > OBS_ATOL[name]):
        problems.append(f"step {i}: obs {np.asarray(obs[i])} vs {ref_obs[i]}")
    for i, row in enumerate(rows):
        if not np.isclose(float(rewards[i]), row[4], rtol=1e-5, atol=1e-5):
            problems.append(f"step {i}: reward {float(rewards[i])} vs {row[4]}")
        if bool(terms[i]) != row[5]:
            problems.append(f"step {i}: terminated {bool(terms[i])} vs {row[5]}")
        if bool(truncs[i]) != row[6]:
            problems.append(f"step {i}: truncated {bool(truncs[i])} vs {row[6]}")
    assert not problems, f"{name}: {len(problems)} differences\n" + "\n".join(
        problems[:20]
    )
    # The test data must contain the events whose parity we claim.
    assert any(r[6] for r in rows), "no truncation exercised"
    if name in ("CartPole-v1", "MountainCar-v0", "Acrobot-v1"):
        assert any(r[5] for r in rows), "no termination exercised"


# Free-running drift over the first steps (float32 vs float64 only).
FREE_STEPS = {"CartPole-v1": 20, "MountainCar-v0": 100, "Acrobot-v1": 30}
FREE_STEPS["Pendulum-v1"] = 50


@pytest.mark.parametrize("name", list(MAX_STEPS))
def test_free_run_stays_close_to_gymnasium(name):
    env, params = make(name)
    reference = gym.make(name)
    reference.reset(seed=3)
    rng = np.random.default_rng(3)
    batch = to_ours(name, env, [state_of(name, reference.unwrapped)], [0])
    state = jax.tree.map(lambda x: x[0], batch)
    step = jax.jit(env.step_env)
    worst = 0.0
    for _ in range(FREE_STEPS[name]):
        action = choose_action(name, rng, state_of(name, reference.unwrapped), False)
        ref_obs, ref_reward, ref_term, _, _ = reference.step(action)
        obs, state, reward, term, _ = step(jax.random.key(0), state, action, params)
        worst = max(worst, float(np.abs(np.asarray(obs) - ref_obs).max()))
        assert bool(term) == ref_term
        if ref_term:
            break
    assert worst < 1e-3, f"{name}: obs drift {worst:.2e} in free run"


@pytest.mark.parametrize("name", list(MAX_STEPS))
def test_reset_distribution_support_matches(name):
    env, params = make(name)
    keys = jax.random.split(jax.random.key(0), 1000)
    obs, _ = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(keys, params)
    reference = gym.make(name)
    ref_obs = np.stack([reference.reset(seed=s)[0] for s in range(100)])
    low, high = np.asarray(obs).min(0), np.asarray(obs).max(0)
    # Gymnasium's 100 draws must lie inside our 1000 draws' range (up to 5%
    # of the range) and vice versa.
    span = np.maximum(high - low, 1e-6)
    assert np.all(ref_obs.min(0) >= low - 0.05 * span)
    assert np.all(ref_obs.max(0) <= high + 0.05 * span)
    assert np.all(low >= ref_obs.min(0) - 0.05 * span)
    assert np.all(high <= ref_obs.max(0) + 0.05 * span)
