"""Tabular throughput: env steps per second of jaxmeta's vmapped tabular
Q-learning on Four Rooms and Taxi at 1, 64 and 1024 trials, beside the same
algorithm as a plain Python/NumPy loop, the way a reader of seeds/001's
listing would write it (one trial at a time: its speed does not depend on
the number of trials).

Both sides run epsilon-greedy tabular Q-learning (alpha 0.5, gamma 0.9,
epsilon 0.1, ties to the first maximum on the NumPy side, at random on
jaxmeta's) with one env per trial, learning every step, on the same
dynamics: Four Rooms with 1/3 of the moves going another way and uniform
random starts, goal the east hallway; Taxi-v3 (deterministic, 200-step
limit). The NumPy envs are written below in the listing's style (Python
objects, `np.random`, a NumPy Q table); Taxi's transition table is
Gymnasium's (built once from `jaxmeta.envs.taxi`, which matches it bit for
bit). jaxmeta's side is `jax.vmap(train)` over trials, compiled ahead of
time (compilation is reported apart, never timed). The sides take turns
(`--repeats` rounds, rotating order), so all see the same machine load;
the table gives the median and the spread. jaxmeta's intra-option and
SMDP Q-learning on Four Rooms (hallway options and primitive actions) are
timed too, at 1024 trials, for their cost beside flat Q-learning, and so
are the envs alone (random actions, nothing learned), the ceiling any
learner on them has.

    python benchmarks/tabular_throughput.py              # 20,000 steps per trial
    python benchmarks/tabular_throughput.py --quick      # 2,000 steps, 1 repeat
"""

import argparse
import os
import time

import numpy as np

ALPHA, GAMMA, EPSILON = 0.5, 0.9, 0.1
NUM_STEPS = 500  # env steps per jaxmeta update


class FourRoomsLoop:
    """Four Rooms as a Python env: cell indices, NEXT_CELL moves."""

    def __init__(self):
        from jaxmeta.envs.four_rooms import CELL_INDEX, NEXT_CELL, NUM_CELLS

        self.next_cell = NEXT_CELL
        self.num_states, self.num_actions = NUM_CELLS, 4
        self.goal = int(CELL_INDEX[7, 9])

    def reset(self):
        while True:
            self.state = np.random.randint(self.num_states)
            if self.state != self.goal:
                return self.state

    def step(self, action):
        if np.random.rand() < 1.0 / 3.0:
            action = (action + np.random.randint(1, 4)) % 4
        self.state = self.next_cell[self.state, action]
        done = self.state == self.goal
        return self.state, 1.0 if done else 0.0, done, False


class TaxiLoop:
    """Taxi-v3 as a Python env over Gymnasium's transition table."""

    def __init__(self):
        import jax.numpy as jnp

        from jaxmeta.envs.taxi import (
            NUM_ACTIONS,
            NUM_STATES,
            initial_state_support,
            transition,
        )

        states = jnp.repeat(jnp.arange(NUM_STATES), NUM_ACTIONS)
        actions = jnp.tile(jnp.arange(NUM_ACTIONS), NUM_STATES)
        table = transition(states.astype(jnp.int32), actions.astype(jnp.int32))
        shape = (NUM_STATES, NUM_ACTIONS)
        self.next_state, self.reward, self.terminal = (
            np.asarray(x).reshape(shape) for x in table
        )
        self.starts = initial_state_support()
        self.num_states, self.num_actions = NUM_STATES, NUM_ACTIONS

    def reset(self):
        self.state, self.time = np.random.choice(self.starts), 0
        return self.state

    def step(self, action):
        s = self.state
        self.state, self.time = self.next_state[s, action], self.time + 1
        return (
            self.state,
            self.reward[s, action],
            self.terminal[s, action],
            (self.time >= 200),
        )


def numpy_q_learning(env, steps: int, seed: int = 0):
    """The listing's Q-learning loop for `steps` env steps; returns Q."""
    np.random.seed(seed)
    q = np.zeros((env.num_states, env.num_actions))
    state = env.reset()
    for _ in range(steps):
        if np.random.rand() < EPSILON:
            action = np.random.randint(env.num_actions)
        else:
            action = np.argmax(q[state])
        next_state, reward, terminated, truncated = env.step(action)
        target = reward if terminated else reward + GAMMA * np.max(q[next_state])
        q[state, action] += ALPHA * (target - q[state, action])
        state = env.reset() if terminated or truncated else next_state
    return q


def build_jaxmeta(env_name: str, learner_name: str, trials: int, steps: int, **cfg):
    """`(run, compile_s)`: run() trains `trials` vmapped learners once."""
    import jax
    import jax.numpy as jnp

    from jaxmeta.envs import make
    from jaxmeta.learners import hparams_with, make_learner, train

    env, env_params = make(env_name)
    learner = make_learner(learner_name, env, num_envs=1, num_steps=NUM_STEPS, **cfg)
    hparams = hparams_with(
        learner.default_hparams(),
        learning_rate=ALPHA,
        gamma=GAMMA,
        eps_start=EPSILON,
        eps_end=EPSILON,
    )
    hparams = jax.tree_util.tree_map(lambda x: jnp.full((trials,), x), hparams)
    keys = jax.random.split(jax.random.key(0), trials)

    def run_all(keys, hparams, env_params):
        states, metrics = jax.vmap(train, in_axes=(None, 0, 0, None, None))(
            learner, keys, hparams, env_params, steps // NUM_STEPS
        )
        return states.params["q"].sum(), metrics["episodes"].sum()

    began = time.perf_counter()
    compiled = jax.jit(run_all).lower(keys, hparams, env_params).compile()
    compile_s = time.perf_counter() - began

    def run():
        jax.block_until_ready(compiled(keys, hparams, env_params))

    run()  # warm up
    return run, compile_s


def build_env_only(env_name: str, trials: int, steps: int):
    """`(run, compile_s)`: `trials` vmapped envs stepped with uniform random
    actions and nothing learned, through the same auto-resetting `step`:
    the ceiling the env puts on any learner."""
    import jax
    import jax.numpy as jnp

    from jaxmeta.envs import make

    env, env_params = make(env_name)
    num_actions = env.action_space(env_params).n

    def run_all(key):
        keys = jax.random.split(key, trials)
        _, env_state = jax.vmap(env.reset, in_axes=(0, None))(keys, env_params)

        def body(carry, key):
            env_state, total = carry
            key_action, key_env = jax.random.split(key)
            action = jax.random.randint(key_action, (trials,), 0, num_actions)
            obs, env_state, reward, *_ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(key_env, trials), env_state, action, env_params
            )
            return (env_state, total + reward.sum() + obs.sum()), None

        init = (env_state, jnp.float32(0.0))
        (_, total), _ = jax.lax.scan(body, init, jax.random.split(key, steps))
        return total

    key = jax.random.key(0)
    began = time.perf_counter()
    compiled = jax.jit(run_all).lower(key).compile()
    compile_s = time.perf_counter() - began

    def run():
        jax.block_until_ready(compiled(key))

    run()
    return run, compile_s


def spread(values) -> str:
    """'median (min - max)' of `values`."""
    values = np.asarray(values, float)
    return f"{np.median(values):,.0f} ({values.min():,.0f} - {values.max():,.0f})"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20_000, help="per trial")
    parser.add_argument("--trials", type=int, nargs="+", default=[1, 64, 1024])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="2,000 steps, 1 repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.repeats = 2_000, 1
    if args.steps % NUM_STEPS or args.steps <= 0:
        parser.error(f"--steps must be a positive multiple of {NUM_STEPS}")
    return args


def main(argv=None):
    import jax

    args = parse_args(argv)
    envs = {"FourRooms-options": FourRoomsLoop, "Taxi-v3": TaxiLoop}
    sides, compile_s = {}, {}
    for env_name, loop in envs.items():
        env = loop()
        sides[(env_name, "numpy loop", 1)] = lambda env=env: numpy_q_learning(
            env, args.steps
        )
        for trials in args.trials:
            key = (env_name, "jaxmeta qlearning", trials)
            sides[key], compile_s[key] = build_jaxmeta(
                env_name, "qlearning", trials, args.steps
            )
    most = max(args.trials)
    for env_name in envs:
        key = (env_name, "env alone, random actions", most)
        sides[key], compile_s[key] = build_env_only(env_name, most, args.steps)
    for name in ("intra_option_q", "smdp_q"):
        key = ("FourRooms-options", f"jaxmeta {name} (hallways+primitive)", most)
        sides[key], compile_s[key] = build_jaxmeta(
            "FourRooms-options",
            name,
            most,
            args.steps,
            options="hallways+primitive",
        )
    names, rates = list(sides), {key: [] for key in sides}
    for r in range(args.repeats):
        turn = r % len(names)
        for key in names[turn:] + names[:turn]:
            began = time.perf_counter()
            sides[key]()
            rates[key].append(key[2] * args.steps / (time.perf_counter() - began))
    print(
        f"{args.steps:,} env steps per trial, {args.repeats} interleaved repeats, "
        f"{os.cpu_count()} CPUs, jax {jax.__version__} on "
        f"{jax.devices()[0].platform}\n"
    )
    header = "| env | side | trials | env steps/s, median (min - max) | x numpy |"
    print(header + " compile s |")
    print("|---|---|---|---|---|---|")
    for key in names:
        env_name, side, trials = key
        numpy_rate = np.median(rates[(env_name, "numpy loop", 1)])
        ratio = np.median(rates[key]) / numpy_rate
        compiled = f"{compile_s[key]:.1f}" if key in compile_s else ""
        print(
            f"| {env_name} | {side} | {trials} | {spread(rates[key])} | "
            f"{ratio:,.1f} | {compiled} |"
        )


if __name__ == "__main__":
    main()
