"""LunarLander-v3: jaxmeta's JAX env against Gymnasium + Box2D.

Prints a markdown table: Gymnasium's heuristic (success = return >= 200) and a
uniform random policy in both, the largest position/angle deviation over the
first 50 steps from Box2D's start with the same actions and engine noise, and
steps/s of jaxmeta (vmapped, jitted scan, compile excluded) against Gymnasium's
synchronous vector env at 1, 64 and 1024 envs. Usage:

    python benchmarks/lunar_lander_parity.py [--episodes 100] [--repeats 3]
"""

import argparse
import copy
import time

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from jaxmeta.envs import lunar_lander_physics as physics
from jaxmeta.envs import lunar_lander_rules as rules
from jaxmeta.envs import make

ENV, PARAMS = make("LunarLander-v3")


def heuristic(s, xp):
    """Gymnasium's heuristic (its published formula), discrete action."""
    angle_targ = xp.clip(s[0] * 0.5 + s[2] * 1.0, -0.4, 0.4)
    hover_targ = 0.55 * xp.abs(s[0])
    angle_todo = (angle_targ - s[4]) * 0.5 - s[5] * 1.0
    hover_todo = (hover_targ - s[1]) * 0.5 - s[3] * 0.5
    legs = (s[6] > 0) | (s[7] > 0)
    angle_todo = xp.where(legs, 0.0, angle_todo)
    hover_todo = xp.where(legs, -s[3] * 0.5, hover_todo)
    side = xp.where(angle_todo < -0.05, 3, xp.where(angle_todo > 0.05, 1, 0))
    return xp.where((hover_todo > xp.abs(angle_todo)) & (hover_todo > 0.05), 2, side)


@jax.jit
def jax_episodes(key, use_heuristic):
    """Return and length ``[n]`` of one episode per env (finished envs frozen)."""
    n = use_heuristic.shape[0]
    key, key_reset = jax.random.split(key)
    obs, state = jax.vmap(ENV.reset_env, (0, None))(
        jax.random.split(key_reset, n), PARAMS
    )
    step_env = jax.vmap(ENV.step_env, (0, 0, 0, None))

    def step(carry):
        key, obs, state, done, ret, length = carry
        key, key_act, key_step = jax.random.split(key, 3)
        action = jnp.where(
            use_heuristic,
            jax.vmap(lambda o: heuristic(o, jnp))(obs),
            jax.random.randint(key_act, (n,), 0, 4),
        )
        new = step_env(jax.random.split(key_step, n), state, action, PARAMS)
        trunc = new[1].time >= PARAMS.max_steps_in_episode

        def keep(x_new, x_old):
            mask = jnp.reshape(done, done.shape + (1,) * (x_new.ndim - 1))
            return jnp.where(mask, x_old, x_new)

        obs, state = jax.tree.map(keep, (new[0], new[1]), (obs, state))
        ret = ret + jnp.where(done, 0.0, new[2])
        length = length + jnp.where(done, 0, 1)
        return key, obs, state, done | new[3] | trunc, ret, length

    zeros = jnp.zeros(n)
    init = (key, obs, state, zeros > 0, zeros, zeros.astype(jnp.int32))
    out = jax.lax.while_loop(lambda c: ~jnp.all(c[3]), step, init)
    return out[4], out[5]


def box2d_episodes(n, use_heuristic, seed):
    env = gym.make("LunarLander-v3")
    rng = np.random.default_rng(seed)
    returns, lengths = [], []
    for i in range(n):
        obs, _ = env.reset(seed=seed * 10_000 + i)
        total, length, done = 0.0, 0, False
        while not done:
            action = heuristic(obs, np) if use_heuristic else rng.integers(4)
            obs, reward, terminated, truncated, _ = env.step(int(action))
            total, length, done = total + reward, length + 1, terminated or truncated
        returns.append(total)
        lengths.append(length)
    return np.array(returns), np.array(lengths)


def trajectory_deviation(seeds=10, steps=50):
    """Largest |position| (m) and |angle| (rad) gap over ``steps`` steps."""
    env = gym.make("LunarLander-v3")
    u = env.unwrapped
    rng = np.random.default_rng(0)

    @jax.jit
    def rollout(body, terrain, actions, dispersions):
        def step(body, inputs):
            main, side, direction = rules.engine_powers(inputs[0], False)
            impulses, points = rules.engine_impulses(
                body.position, body.angle, main, side, direction, inputs[1]
            )
            body, *_ = physics.physics_step(
                body, terrain, impulses, points, jnp.zeros(2), 0.0, PARAMS.gravity
            )
            return body, jnp.append(body.position, body.angle)

        return jax.lax.scan(step, body, (actions, dispersions))[1]

    worst = np.zeros(2)
    for seed in range(seeds):
        env.reset(seed=seed)
        lander, legs = u.lander, u.legs
        psi = [legs[0].joint.angle - 0.4, -0.4 - legs[1].joint.angle]
        body = physics.LanderBody(
            position=jnp.array(tuple(lander.position)),
            velocity=jnp.array(tuple(lander.linearVelocity)),
            angle=jnp.float32(lander.angle),
            angular_velocity=jnp.float32(lander.angularVelocity),
            leg_compression=jnp.clip(jnp.array(psi), 0.0, 0.5),
        )
        polys = u.sky_polys
        terrain = jnp.array([p[0][1] for p in polys] + [polys[-1][1][1]])
        noise = copy.deepcopy(u.np_random)
        actions = rng.integers(4, size=steps)
        want, dispersions = [], []
        for action in actions:
            dispersions.append([noise.uniform(-1.0, 1.0) / 30.0 for _ in range(2)])
            env.step(int(action))
            want.append([*u.lander.position, u.lander.angle])
        got = rollout(body, terrain, jnp.asarray(actions), jnp.array(dispersions))
        error = np.abs(np.asarray(got) - np.array(want))
        worst = np.maximum(worst, [error[:, :2].max(), error[:, 2].max()])
    return worst


def jax_steps_per_second(num_envs, repeats, steps=200):
    @jax.jit
    def run(key):
        key_reset, key_run = jax.random.split(key)
        _, state = jax.vmap(ENV.reset, (0, None))(
            jax.random.split(key_reset, num_envs), PARAMS
        )

        def step(state, key):
            key_act, key_step = jax.random.split(key)
            actions = jax.random.randint(key_act, (num_envs,), 0, 4)
            out = jax.vmap(ENV.step, (0, 0, 0, None))(
                jax.random.split(key_step, num_envs), state, actions, PARAMS
            )
            return out[1], out[2].sum()

        return jax.lax.scan(step, state, jax.random.split(key_run, steps))[1]

    run(jax.random.key(0)).block_until_ready()  # compile
    best = np.inf
    for r in range(repeats):
        start = time.perf_counter()
        run(jax.random.key(r + 1)).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return num_envs * steps / best


def gymnasium_steps_per_second(num_envs, repeats, min_steps=4096):
    envs = gym.make_vec("LunarLander-v3", num_envs=num_envs, vectorization_mode="sync")
    envs.reset(seed=0)
    rng = np.random.default_rng(0)
    steps = max(1, min_steps // num_envs)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            envs.step(rng.integers(4, size=num_envs))
        best = min(best, time.perf_counter() - start)
    envs.close()
    return num_envs * steps / best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n = args.episodes
    print(f"# LunarLander-v3 parity ({n} episodes per row and side)\n")
    print("| measure | jaxmeta (JAX) | Gymnasium (Box2D) |\n|---|---|---|")
    for name, flag, seed in [("heuristic", True, 1), ("random", False, 2)]:
        ret, length = jax.device_get(
            jax_episodes(jax.random.key(seed), jnp.full(n, flag))
        )
        ref, ref_length = box2d_episodes(n, flag, seed)
        if flag:
            print(
                f"| heuristic success (return >= 200) | {np.mean(ret >= 200):.2f} "
                f"| {np.mean(ref >= 200):.2f} |"
            )
        print(f"| {name} mean return | {ret.mean():.1f} | {ref.mean():.1f} |")
        print(f"| {name} mean length | {length.mean():.1f} | {ref_length.mean():.1f} |")
    position, angle = trajectory_deviation()
    deviation = f"{position:.4f} m, {angle:.4f} rad"
    print(f"| max deviation, 50 steps, 10 starts | {deviation} | 0 |")
    print("\n| envs | jaxmeta steps/s | Gymnasium vector steps/s | ratio |")
    print("|---|---|---|---|")
    for num_envs in (1, 64, 1024):
        ours = jax_steps_per_second(num_envs, args.repeats)
        ref = gymnasium_steps_per_second(num_envs, args.repeats)
        print(f"| {num_envs} | {ours:,.0f} | {ref:,.0f} | {ours / ref:.1f}x |")


if __name__ == "__main__":
    main()
