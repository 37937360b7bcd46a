"""Hierarchical-agent throughput (issue 14 point 6): env steps per second of
64 vmapped HIRO and FeUdal agents against one, and of the point-maze and
key-door gridworld envs alone at 1024 envs.

Agents: `jax.vmap(train)` over `--agents` members (each its own key and
learning rate, log-spaced) and the unbatched `train` of one, at the sizes
in `AGENTS` (HIRO on the U-maze, FeUdal on the key-door gridworld), each
compiled ahead of time (compilation is reported apart, never timed). Envs:
random actions through a jitted `vmap(env.step)` inside one `lax.scan` at
1, 64 and 1024 envs (gymnax's auto-reset included). The cases take turns
(`--repeats` rounds, rotating order) so all see the same machine load; the
table gives the median and the spread (min-max).

    python benchmarks/hrl_throughput.py              # 64 agents, 3 repeats
    python benchmarks/hrl_throughput.py --quick      # 4 agents, 1 repeat
"""

import argparse
import time

import numpy as np

# name -> (env, learner config, updates timed). HIRO: the sizes of `jaxmeta
# run hiro` (the goal-conditioned U-maze, 64x64 TD3 nets at both levels, 4
# envs x 10 steps and 10 worker steps per update); FeUdal: `jaxmeta run
# feudal`'s 16 envs x 40 steps. Learning starts early so the timed updates
# learn.
AGENTS = {
    "hiro": (
        "PointUMazeGoals-v0",
        {"num_envs": 4, "num_steps": 10, "gradient_steps": 10,
         "buffer_capacity": 8000, "manager_buffer_capacity": 800,
         "learning_starts": 200, "hidden": (64, 64), "goal_dims": (0, 1)},
        50,
    ),
    "feudal": ("KeyDoor-v0", {"num_envs": 16, "num_steps": 40}, 10),
}  # fmt: skip
ENVS = ("PointUMaze-v0", "KeyDoor-v0")
ENV_SIZES = (1, 64, 1024)
ENV_STEPS = 1000


def build_agents(name: str, members: int):
    """`(run, compile_s)` of `members` vmapped agents (members 1: the
    unbatched `train`), compiled; `run()` blocks until done and returns the
    env steps of all agents together."""
    import jax
    import jax.numpy as jnp

    from jaxmeta.envs import make
    from jaxmeta.learners import make_learner, train

    env_name, config, updates = AGENTS[name]
    env, env_params = make(env_name)
    learner = make_learner(name, env, **config)
    base = learner.default_hparams()
    rates = base.learning_rate * jnp.geomspace(0.5, 2.0, members)
    hparams = jax.tree_util.tree_map(lambda x: jnp.full((members,), x), base)
    hparams = hparams.replace(learning_rate=rates.astype(jnp.float32))
    keys = jax.random.split(jax.random.key(0), members)
    if members == 1:
        one = jax.tree_util.tree_map(lambda x: x[0], hparams)
        fn = jax.jit(train, static_argnums=(0, 4))
        args = (learner, keys[0], one, env_params, updates)
    else:
        fn = jax.jit(
            jax.vmap(train, in_axes=(None, 0, 0, None, None)), static_argnums=(0, 4)
        )
        args = (learner, keys, hparams, env_params, updates)
    start = time.perf_counter()
    compiled = fn.lower(*args).compile()
    compile_s = time.perf_counter() - start
    dynamic = [a for i, a in enumerate(args) if i not in (0, 4)]

    def run():
        state, metrics = compiled(*dynamic)
        jax.block_until_ready(metrics)
        # Every agent's steps: `env_steps` is each agent's own counter.
        return members * int(np.max(np.asarray(metrics["env_steps"])))

    return run, compile_s


def build_env(name: str, num_envs: int):
    """`(run, compile_s)`: `ENV_STEPS` random-action steps of `num_envs`
    envs in one compiled scan; `run()` returns the env steps taken."""
    import jax

    from jaxmeta.envs import make

    env, env_params = make(name)
    space = env.action_space(env_params)

    def rollout(key):
        keys = jax.random.split(key, num_envs)
        _, states = jax.vmap(env.reset, in_axes=(0, None))(keys, env_params)

        def step(states, key):
            key_act, key_step = jax.random.split(key)
            actions = jax.vmap(space.sample)(jax.random.split(key_act, num_envs))
            step_keys = jax.random.split(key_step, num_envs)
            _, states, reward, *_ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                step_keys, states, actions, env_params
            )
            return states, reward.sum()

        _, rewards = jax.lax.scan(step, states, jax.random.split(key, ENV_STEPS))
        return rewards.sum()

    start = time.perf_counter()
    compiled = jax.jit(rollout).lower(jax.random.key(0)).compile()
    compile_s = time.perf_counter() - start

    def run():
        compiled(jax.random.key(1)).block_until_ready()
        return num_envs * ENV_STEPS

    return run, compile_s


def spread(values) -> str:
    """`median (min-max)` of rates in steps/s."""
    v = np.asarray(values)
    return f"{_rate(np.median(v))} ({_rate(v.min())}-{_rate(v.max())})"


def _rate(x: float) -> str:
    return f"{x / 1e6:.2f}M" if x >= 1e6 else f"{x / 1e3:.1f}k"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=64, help="vmapped agents")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds")
    parser.add_argument("--quick", action="store_true", help="4 agents, 1 round")
    args = parser.parse_args(argv)
    if args.quick:
        args.agents, args.repeats = 4, 1
    if args.agents < 2 or args.repeats < 1:
        parser.error("--agents must be >= 2 and --repeats >= 1")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    cases = {}
    for name in AGENTS:
        for members in (1, args.agents):
            cases[(name, members)] = build_agents(name, members)
    for name in ENVS:
        for size in ENV_SIZES:
            cases[(name, size)] = build_env(name, size)
    for run, _ in cases.values():
        run()  # warm-up
    rates = {case: [] for case in cases}
    order = list(cases)
    for r in range(args.repeats):
        for case in order[r % len(order) :] + order[: r % len(order)]:
            start = time.perf_counter()
            steps = cases[case][0]()
            rates[case].append(steps / (time.perf_counter() - start))
    print(
        f"\n{args.repeats} rounds, median (min-max) env steps/s of all agents "
        "together; compile apart\n"
    )
    n = args.agents
    print(f"| agent | env | 1 agent | {n} agents | speed-up | compile s (1 / {n}) |")
    print("|---|---|---|---|---|---|")
    for name, (env_name, _, _) in AGENTS.items():
        one, many = rates[(name, 1)], rates[(name, args.agents)]
        print(
            f"| {name} | {env_name} | {spread(one)} | {spread(many)} | "
            f"{np.median(many) / np.median(one):.1f}x | "
            f"{cases[(name, 1)][1]:.1f} / {cases[(name, args.agents)][1]:.1f} |"
        )
    print(
        "\n| env (random actions) | " + " | ".join(f"n={n}" for n in ENV_SIZES) + " |"
    )
    print("|---|" + "---|" * len(ENV_SIZES))
    for name in ENVS:
        cells = [spread(rates[(name, n)]) for n in ENV_SIZES]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
