"""LunarLander-v3 in JAX against Gymnasium + Box2D.

Closeness criteria (issue 3, point 1): identical observation and reward on the
same body states; the same 50-step trajectory from the same start within
0.015 m and 0.01 rad; Gymnasium's heuristic lands with success rate
(success = episode return >= 200) within 10 points and mean return within 15 %;
a random policy gives mean return and length within 20 %.
"""

import copy

import jax
import jax.numpy as jnp
import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")
pytest.importorskip("Box2D")
seeding = pytest.importorskip("gymnasium.utils.seeding")

from jaxmeta.envs import lunar_lander as ll  # noqa: E402
from jaxmeta.envs import lunar_lander_physics as physics  # noqa: E402
from jaxmeta.envs import lunar_lander_rules as rules  # noqa: E402
from jaxmeta.envs import make  # noqa: E402
from jaxmeta.envs.lunar_lander_terrain import WORLD_H, smooth_terrain  # noqa: E402

TRAJECTORY_POSITION_TOL = 0.015  # m, over the first 50 steps
TRAJECTORY_ANGLE_TOL = 0.01  # rad
HEURISTIC_EPISODES = 100
RANDOM_EPISODES = 100


def heuristic_targets(s, xp):
    """Gymnasium's published heuristic: (angle_todo, hover_todo) of obs ``s``."""
    angle_targ = xp.clip(s[0] * 0.5 + s[2] * 1.0, -0.4, 0.4)
    hover_targ = 0.55 * xp.abs(s[0])
    angle_todo = (angle_targ - s[4]) * 0.5 - s[5] * 1.0
    hover_todo = (hover_targ - s[1]) * 0.5 - s[3] * 0.5
    legs = (s[6] > 0) | (s[7] > 0)
    return xp.where(legs, 0.0, angle_todo), xp.where(legs, -s[3] * 0.5, hover_todo)


def heuristic_action(s, xp):
    """Discrete heuristic action (0 noop, 1 left, 2 main, 3 right)."""
    angle_todo, hover_todo = heuristic_targets(s, xp)
    side = xp.where(angle_todo < -0.05, 3, xp.where(angle_todo > 0.05, 1, 0))
    return xp.where((hover_todo > xp.abs(angle_todo)) & (hover_todo > 0.05), 2, side)


def box2d_body(unwrapped):
    lander, legs = unwrapped.lander, unwrapped.legs
    psi = [legs[0].joint.angle - 0.4, -0.4 - legs[1].joint.angle]
    return physics.LanderBody(
        position=jnp.array(tuple(lander.position), jnp.float32),
        velocity=jnp.array(tuple(lander.linearVelocity), jnp.float32),
        angle=jnp.float32(lander.angle),
        angular_velocity=jnp.float32(lander.angularVelocity),
        leg_compression=jnp.clip(jnp.array(psi, jnp.float32), 0.0, 0.5),
    )


def box2d_terrain(unwrapped):
    polys = unwrapped.sky_polys
    return np.array([p[0][1] for p in polys] + [polys[-1][1][1]], np.float32)


@pytest.mark.parametrize("continuous", [False, True])
def test_observation_and_reward_equal_gymnasium_on_box2d_states(continuous):
    env = gym.make("LunarLander-v3", continuous=continuous)
    u = env.unwrapped
    rng = np.random.default_rng(0)
    rows = []
    for episode in range(6):
        obs, _ = env.reset(seed=episode)
        for _ in range(1000):
            if continuous:
                action = rng.uniform(-1, 1, size=2).astype(np.float32)
            elif episode % 2:  # heuristic episodes land (sleep, leg contacts)
                action = int(heuristic_action(obs, np))
            else:
                action = int(rng.integers(4))
            prev_shaping = u.prev_shaping
            obs, reward, terminated, truncated, _ = env.step(action)
            lander = u.lander
            rows.append(
                dict(
                    position=tuple(lander.position),
                    velocity=tuple(lander.linearVelocity),
                    angle=lander.angle,
                    angular_velocity=lander.angularVelocity,
                    contact=[leg.ground_contact for leg in u.legs],
                    prev_shaping=prev_shaping,
                    action=np.atleast_1d(action),
                    crashed=u.game_over,
                    asleep=not lander.awake,
                    obs=obs,
                    reward=reward,
                    terminated=terminated,
                )
            )
            if terminated or truncated:
                break
    batch = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    assert batch["terminated"].sum() == 6 and batch["contact"].any()

    def ours(position, velocity, angle, omega, contact, prev, action, crash, sleep):
        obs = rules.observation(position, velocity, angle, omega, contact)
        act = action if continuous else action[0]
        main, side, _ = rules.engine_powers(act, continuous)
        reward, _, terminated = rules.step_reward(obs, prev, main, side, crash, sleep)
        return obs, reward, terminated

    keys = ["position", "velocity", "angle", "angular_velocity", "contact"]
    keys += ["prev_shaping", "action", "crashed", "asleep"]
    args = [jnp.asarray(batch[k]) for k in keys]
    obs, reward, terminated = jax.jit(jax.vmap(ours))(*args)
    np.testing.assert_allclose(obs, batch["obs"], rtol=1e-6, atol=1e-6)
    # Gymnasium sums the float32 state in float64; we stay in float32
    np.testing.assert_allclose(reward, batch["reward"], rtol=1e-5, atol=2e-4)
    np.testing.assert_array_equal(terminated, batch["terminated"])


def test_wind_profile_is_gymnasiums_formula():
    index = np.arange(-9999, 9999, 37)
    want = np.tanh(np.sin(0.02 * index) + np.sin(np.pi * 0.01 * index)) * 15.0
    got = jax.jit(rules.wind)(jnp.asarray(index, jnp.int32), 15.0)
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_terrain_and_reset_state_equal_box2d():
    env = gym.make("LunarLander-v3")
    heights, pushes, terrains, want = [], [], [], []
    for seed in range(20):
        env.reset(seed=seed)
        rng, _ = seeding.np_random(seed)  # replays Gymnasium's draws
        heights.append(rng.uniform(0, WORLD_H / 2, size=(12,)))
        pushes.append([rng.uniform(-1000, 1000), rng.uniform(-1000, 1000)])
        terrains.append(box2d_terrain(env.unwrapped))
        ref = box2d_body(env.unwrapped)
        want.append(np.concatenate([np.ravel(x) for x in jax.tree.leaves(ref)]))

    def ours(height, push):
        body = ll.initial_body(push, 0.0, -10.0)
        leaves = [jnp.ravel(x) for x in jax.tree.leaves(body)]
        return smooth_terrain(height), jnp.concatenate(leaves)

    terrain, got = jax.jit(jax.vmap(ours))(
        jnp.asarray(np.array(heights), jnp.float32),
        jnp.asarray(np.array(pushes), jnp.float32),
    )
    np.testing.assert_allclose(terrain, np.array(terrains), atol=1e-5)
    np.testing.assert_allclose(got, np.array(want), atol=1e-4)


def test_trajectory_follows_box2d_for_50_steps():
    env = gym.make("LunarLander-v3")
    u = env.unwrapped
    rng = np.random.default_rng(1)
    bodies, terrains, actions, dispersions, want = [], [], [], [], []
    for seed in range(6):
        env.reset(seed=100 + seed)
        bodies.append(box2d_body(u))
        terrains.append(box2d_terrain(u))
        noise = copy.deepcopy(u.np_random)  # the engines' dispersion draws
        acts = rng.integers(4, size=50)
        path, disp = [], []
        for action in acts:
            disp.append([noise.uniform(-1.0, 1.0) / 30.0 for _ in range(2)])
            env.step(int(action))
            path.append([*u.lander.position, u.lander.angle])
        actions.append(acts)
        dispersions.append(disp)
        want.append(path)

    def rollout(body, terrain, acts, disps):
        def step(body, inputs):
            action, dispersion = inputs
            main, side, direction = rules.engine_powers(action, False)
            impulses, points = rules.engine_impulses(
                body.position, body.angle, main, side, direction, dispersion
            )
            body, *_ = physics.physics_step(
                body, terrain, impulses, points, jnp.zeros(2), 0.0, -10.0
            )
            return body, jnp.append(body.position, body.angle)

        return jax.lax.scan(step, body, (acts, disps))[1]

    run = jax.jit(rollout)
    got = [
        run(body, jnp.asarray(terrain), jnp.asarray(acts, jnp.int32), jnp.asarray(d))
        for body, terrain, acts, d in zip(
            bodies, terrains, actions, dispersions, strict=True
        )
    ]
    error = np.abs(np.asarray(got) - np.array(want))
    assert error[..., :2].max() < TRAJECTORY_POSITION_TOL, error[..., :2].max()
    assert error[..., 2].max() < TRAJECTORY_ANGLE_TOL, error[..., 2].max()


ENV, ENV_PARAMS = make("LunarLander-v3")


@jax.jit
def _jax_episodes(key, use_heuristic):
    """Return and length ``[n]`` of one episode in each of ``n`` vmapped envs;
    ``use_heuristic [n]`` picks Gymnasium's heuristic, else uniform random
    actions. Finished envs are frozen (``step_env``, no auto-reset)."""
    n = use_heuristic.shape[0]
    key, key_reset = jax.random.split(key)
    reset = jax.vmap(ENV.reset_env, (0, None))
    obs, state = reset(jax.random.split(key_reset, n), ENV_PARAMS)
    vmapped_step = jax.vmap(ENV.step_env, (0, 0, 0, None))

    def running(carry):
        return ~jnp.all(carry[3])

    def step(carry):
        key, obs, state, done, ret, length = carry
        key, key_act, key_step = jax.random.split(key, 3)
        random_action = jax.random.randint(key_act, (n,), 0, 4)
        policy_action = jax.vmap(lambda o: heuristic_action(o, jnp))(obs)
        action = jnp.where(use_heuristic, policy_action, random_action)
        new_obs, new_state, reward, term, _ = vmapped_step(
            jax.random.split(key_step, n), state, action, ENV_PARAMS
        )
        trunc = new_state.time >= ENV_PARAMS.max_steps_in_episode
        ret = ret + jnp.where(done, 0.0, reward)
        length = length + jnp.where(done, 0, 1)

        def keep(new, old):
            mask = jnp.reshape(done, done.shape + (1,) * (new.ndim - 1))
            return jnp.where(mask, old, new)

        obs = keep(new_obs, obs)
        state = jax.tree.map(keep, new_state, state)
        return key, obs, state, done | term | trunc, ret, length

    zeros = jnp.zeros(n)
    init = (key, obs, state, zeros > 0, zeros, zeros.astype(jnp.int32))
    _, _, _, _, ret, length = jax.lax.while_loop(running, step, init)
    return ret, length


def _box2d_episodes(n, heuristic, seed):
    env = gym.make("LunarLander-v3")
    rng = np.random.default_rng(seed)
    returns, lengths = [], []
    for i in range(n):
        obs, _ = env.reset(seed=seed * 10_000 + i)
        total, length, done = 0.0, 0, False
        while not done:
            action = heuristic_action(obs, np) if heuristic else rng.integers(4)
            obs, reward, terminated, truncated, _ = env.step(int(action))
            total, length = total + reward, length + 1
            done = terminated or truncated
        returns.append(total)
        lengths.append(length)
    return np.array(returns), np.array(lengths)


@pytest.fixture(scope="module")
def episode_stats():
    stats = {}
    for name, n, heuristic in [
        ("heuristic", HEURISTIC_EPISODES, True),
        ("random", RANDOM_EPISODES, False),
    ]:
        flags = jnp.full(n, heuristic)
        stats["jax_" + name] = jax.device_get(
            _jax_episodes(jax.random.key(int(heuristic)), flags)
        )
        stats["box2d_" + name] = _box2d_episodes(n, heuristic, seed=1 + heuristic)
    return stats


@pytest.mark.slow
def test_heuristic_lands_as_in_box2d(episode_stats):
    ours, _ = episode_stats["jax_heuristic"]
    ref, _ = episode_stats["box2d_heuristic"]
    success, ref_success = np.mean(ours >= 200), np.mean(ref >= 200)
    assert abs(success - ref_success) <= 0.10, (success, ref_success)
    assert abs(ours.mean() - ref.mean()) <= 0.15 * abs(ref.mean()), (
        ours.mean(),
        ref.mean(),
    )


@pytest.mark.slow
def test_random_policy_matches_box2d(episode_stats):
    ours, our_lengths = episode_stats["jax_random"]
    ref, ref_lengths = episode_stats["box2d_random"]
    assert abs(ours.mean() - ref.mean()) <= 0.2 * abs(ref.mean())
    assert abs(our_lengths.mean() - ref_lengths.mean()) <= 0.2 * ref_lengths.mean()


def test_continuous_env_jits_autoresets_and_is_deterministic():
    """Jitted gymnax ``step`` of the continuous variant (vmapping is exercised by
    the episode statistics and the benchmark)."""
    env, params = make("LunarLanderContinuous-v3", enable_wind=True)

    @jax.jit
    def run(key):
        key_reset, key_run = jax.random.split(key)
        _, state = env.reset(key_reset, params)

        def step(state, key):
            key_act, key_step = jax.random.split(key)
            action = jax.random.uniform(key_act, (2,), minval=-1.0, maxval=1.0)
            obs, state, reward, term, trunc, _ = env.step(
                key_step, state, action, params
            )
            return state, (obs, reward, term | trunc)

        return jax.lax.scan(step, state, jax.random.split(key_run, 200))[1]

    obs, rewards, ends = run(jax.random.key(3))
    assert obs.shape == (200, 8) and np.isfinite(np.asarray(obs)).all()
    assert int(ends.sum()) >= 1 and np.isfinite(np.asarray(rewards)).all()
    np.testing.assert_array_equal(rewards, run(jax.random.key(3))[1])


@pytest.mark.parametrize(
    "field, value",
    [
        ("gravity", 0.5),
        ("gravity", -13.0),
        ("wind_power", -1.0),
        ("turbulence_power", -0.1),
        ("enable_wind", 1),
        ("max_steps_in_episode", 0),
    ],
)
def test_bad_options_raise_value_error_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        make("LunarLander-v3", **{field: value})
