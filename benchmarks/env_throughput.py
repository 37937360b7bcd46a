"""Environment throughput: jaxmeta (jitted, vmapped, lax.scan) vs Gymnasium.

For each env and each batch size, random actions are sampled and stepped for a
fixed number of steps inside one ``lax.scan`` over ``vmap``-ed ``env.step``
(auto-reset included). The program is compiled ahead of time, so compile time
is excluded; the best of ``--repeats`` timed runs is reported as env steps/s.
Beside it, Gymnasium's ``SyncVectorEnv`` of the counterpart env with random
actions from its action space (autoreset included), run for at least
``--gym-seconds``. The brax envs' counterparts are Gymnasium's MuJoCo envs
(a different simulator, same task), shown for scale only.

    python benchmarks/env_throughput.py                       # everything
    python benchmarks/env_throughput.py --envs Taxi-v3,CartPole-v1 --sizes 1,64
    python benchmarks/env_throughput.py --no-gym --steps-budget 65536

Envs that fail to build are skipped with a note. Prints a markdown table.
"""

import argparse
import os
import time

import gymnax
import jax
import jax.numpy as jnp

from jaxmeta.envs import make, registered_names

# The gymnax envs jaxmeta relies on, checked against Gymnasium in tests.
RELIED_ON_GYMNAX = ["CartPole-v1", "MountainCar-v0", "Acrobot-v1", "Pendulum-v1"]
# jaxmeta name -> (Gymnasium id, make kwargs, note).
GYM_COUNTERPART = {
    "CartPole-v1": ("CartPole-v1", {}, ""),
    "MountainCar-v0": ("MountainCar-v0", {}, ""),
    "Acrobot-v1": ("Acrobot-v1", {}, ""),
    "Pendulum-v1": ("Pendulum-v1", {}, ""),
    "Taxi-v3": ("Taxi-v4", {}, "v4 == v3 when dry"),
    "LunarLander-v3": ("LunarLander-v3", {}, ""),
    "LunarLanderContinuous-v3": ("LunarLander-v3", {"continuous": True}, ""),
    "brax-ant": ("Ant-v5", {}, "MuJoCo"),
    "brax-halfcheetah": ("HalfCheetah-v5", {}, "MuJoCo"),
    "brax-inverted_pendulum": ("InvertedPendulum-v5", {}, "MuJoCo"),
}


def default_env_names() -> list[str]:
    """Every env jaxmeta registers, then the gymnax ones it relies on."""
    ours = [n for n in registered_names() if n not in gymnax.registered_envs]
    return ours + [n for n in RELIED_ON_GYMNAX if n not in ours]


def jax_steps_per_second(name, num_envs, num_steps, repeats, seed=0):
    """Best-of-`repeats` env steps/s for `num_envs` envs x `num_steps` steps."""
    env, params = make(name)
    space = env.action_space(params)

    def reset(key):
        keys = jax.random.split(key, num_envs)
        return jax.vmap(env.reset, in_axes=(0, None))(keys, params)[1]

    def rollout(state, key):
        def body(state, key):
            key_act, key_step = jax.random.split(key)
            actions = jax.vmap(space.sample)(jax.random.split(key_act, num_envs))
            keys = jax.random.split(key_step, num_envs)
            _, state, reward, _, _, _ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                keys, state, actions, params
            )
            return state, jnp.sum(reward)

        state, rewards = jax.lax.scan(body, state, jax.random.split(key, num_steps))
        return state, jnp.sum(rewards)

    key_reset, key_run = jax.random.split(jax.random.key(seed))
    state = jax.jit(reset)(key_reset)
    compiled = jax.jit(rollout).lower(state, key_run).compile()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(state, key_run))
        best = min(best, time.perf_counter() - start)
    return num_envs * num_steps / best


def gym_steps_per_second(gym_id, kwargs, num_envs, min_seconds):
    """Gymnasium SyncVectorEnv steps/s with random actions."""
    import gymnasium as gym

    vec = gym.vector.SyncVectorEnv(
        [lambda: gym.make(gym_id, **kwargs) for _ in range(num_envs)]
    )
    vec.reset(seed=0)
    vec.action_space.seed(0)
    steps, start = 0, time.perf_counter()
    while steps < 3 or time.perf_counter() - start < min_seconds:
        vec.step(vec.action_space.sample())
        steps += 1
    elapsed = time.perf_counter() - start
    vec.close()
    return num_envs * steps / elapsed


def fmt(rate) -> str:
    if isinstance(rate, str):
        return rate
    return f"{rate / 1e6:.2f}M" if rate >= 1e6 else f"{rate / 1e3:.1f}k"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", default="", help="comma list (default: all)")
    parser.add_argument("--sizes", default="1,64,1024", help="comma list of counts")
    parser.add_argument(
        "--steps-budget",
        type=int,
        default=2**17,
        help="env steps per timed run; scan length = budget / num_envs, 16..2000",
    )
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-gym", action="store_true")
    parser.add_argument("--gym-seconds", type=float, default=1.0)
    parser.add_argument(
        "--gym-max-envs",
        type=int,
        default=1024,
        help="largest Gymnasium vector size; larger sizes use this count instead",
    )
    args = parser.parse_args()
    names = [n for n in args.envs.split(",") if n] or default_env_names()
    sizes = [int(s) for s in args.sizes.split(",")]

    header = ["env"] + [f"jax n={n}" for n in sizes]
    if not args.no_gym:
        header += [f"gym n={n}" for n in sizes] + ["jax/gym at max n", "gym id"]
    rows, notes = [], []
    total_start = time.perf_counter()
    for name in names:
        row = [name]
        try:
            jax_rates = []
            for n in sizes:
                steps = max(16, min(2000, args.steps_budget // n))
                jax_rates.append(jax_steps_per_second(name, n, steps, args.repeats))
        except Exception as error:  # noqa: BLE001 - any build failure is reported
            notes.append(f"{name}: skipped, failed to build/run: {error!r:.200}")
            continue
        row += [fmt(r) for r in jax_rates]
        if not args.no_gym:
            gym_rates = []
            counterpart = GYM_COUNTERPART.get(name)
            for n in sizes:
                if counterpart is None:
                    gym_rates.append("-")
                    continue
                gym_n = min(n, args.gym_max_envs)
                try:
                    rate = gym_steps_per_second(
                        counterpart[0], counterpart[1], gym_n, args.gym_seconds
                    )
                    label = fmt(rate) + ("" if gym_n == n else f" (n={gym_n})")
                    gym_rates.append((rate, label))
                except Exception as error:  # noqa: BLE001
                    gym_rates.append("-")
                    notes.append(
                        f"{name}: Gymnasium {counterpart[0]} failed: {error!r:.150}"
                    )
            row += [g if isinstance(g, str) else g[1] for g in gym_rates]
            last = gym_rates[-1]
            row.append(
                "-" if isinstance(last, str) else f"{jax_rates[-1] / last[0]:.1f}x"
            )
            gym_id = "-" if counterpart is None else counterpart[0]
            if counterpart and counterpart[2]:
                gym_id += f" ({counterpart[2]})"
            row.append(gym_id)
        rows.append(row)
        elapsed = time.perf_counter() - total_start
        print(f"done ({elapsed:.0f} s): | " + " | ".join(row) + " |", flush=True)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"\nenv steps/s, random actions, {jax.devices()[0].platform} "
        f"({os.cpu_count()} cores, load avg {load:.1f}); compile excluded\n"
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    for note in notes:
        print(f"\nnote: {note}")
    print(f"\ntotal time {time.perf_counter() - total_start:.0f} s")


if __name__ == "__main__":
    main()
