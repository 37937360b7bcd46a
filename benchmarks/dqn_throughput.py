"""DQN throughput: 64 vmapped jaxmeta DQN members against 64 vmapped rejax DQN
members at the identical config on CartPole-v1.

The config is rejax's own CartPole DQN config (its configs/gymnax/cartpole.yaml:
10 envs, 50k buffer, 5k fill, batch 100, 5 gradient steps per 10 env steps,
lr 1e-3, Polyak 0.98 every iteration, epsilon 1 -> 0.05 over half the run,
max_grad_norm 10, double DQN) with the plain 64x64 Q network (relu) in place
of the dueling one, and each member its own learning rate (log-spaced) and
key. Each side runs in its own long-lived worker process (rejax in its own
virtualenv, built as benchmarks/population_throughput.py builds it), which
compiles, warms up, then times one full training run per request; the
requests alternate between the sides (`--repeats` rounds, rotating order), so
all see the same machine load. Compile time is reported apart, never timed.
A third side, "rejax, sampling with replacement", is rejax with its replay
sampler (uniform *without* replacement: Gumbel top-k over the whole buffer
per minibatch) swapped for uniform sampling with replacement, which is what
jaxmeta's buffer does: it tells how much of the difference is that sampler.

    python benchmarks/dqn_throughput.py                     # 64 members, 1e5 steps
    python benchmarks/dqn_throughput.py --total-steps 10000 --repeats 3
    python benchmarks/dqn_throughput.py --quick             # 4 members, 2e3 steps
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from population_throughput import _versions, rejax_python

MAX_EPISODE_STEPS = 500  # CartPole-v1
SIDES = ("jaxmeta", "rejax", "rejax, sampling with replacement")
# Fixed on both sides (rejax's names in comments where they differ).
FIXED = {
    "num_envs": 10,
    "buffer_size": 50_000,
    "fill_buffer": 5_000,
    "batch_size": 100,
    "gradient_steps": 5,  # num_epochs
    "gamma": 0.99,
    "tau": 0.02,  # 1 - polyak
    "eps_start": 1.0,
    "eps_end": 0.05,
    "exploration_fraction": 0.5,
    "max_grad_norm": 10.0,
}


def learning_rates(cfg):
    """Per-member learning rates `[population]` float32, log-spaced."""
    pop, low, high = cfg["population"], cfg["lr_min"], cfg["lr_max"]
    rates = np.geomspace(low, high, pop) if pop > 1 else np.array([np.sqrt(low * high)])
    return rates.astype(np.float32)


def build_jaxmeta(cfg):
    """`(run, evaluate, versions)`: run() trains the whole population once."""
    import jax
    import jax.numpy as jnp

    from jaxmeta.envs import make
    from jaxmeta.learners import DQN, hparams_with, train
    from jaxmeta.learners.common.evaluate import evaluate

    env, env_params = make("CartPole-v1")
    learner = DQN(
        env,
        num_envs=FIXED["num_envs"],
        num_steps=1,
        gradient_steps=FIXED["gradient_steps"],
        buffer_capacity=FIXED["buffer_size"],
        batch_size=FIXED["batch_size"],
        # rejax trains once `global_step > fill_buffer` before an iteration.
        learning_starts=FIXED["fill_buffer"] + 2 * FIXED["num_envs"],
        target_update_every=1,
        double=True,
        loss="mse",  # rejax: optax.l2_loss
        total_timesteps=cfg["total_steps"],
        hidden=(64, 64),
        activation="relu",
    )
    pop = cfg["population"]
    hparams = hparams_with(
        learner.default_hparams(),
        gamma=FIXED["gamma"],
        tau=FIXED["tau"],
        eps_start=FIXED["eps_start"],
        eps_end=FIXED["eps_end"],
        eps_decay_fraction=FIXED["exploration_fraction"],
        max_grad_norm=FIXED["max_grad_norm"],
    )
    hparams = jax.tree_util.tree_map(lambda x: jnp.full((pop,), x), hparams)
    hparams = hparams.replace(learning_rate=jnp.asarray(learning_rates(cfg)))
    keys = jax.random.split(jax.random.PRNGKey(cfg["seed"]), pop)
    updates = cfg["total_steps"] // learner.steps_per_update
    fn = jax.jit(
        jax.vmap(train, in_axes=(None, 0, 0, None, None)), static_argnums=(0, 4)
    )
    compiled = fn.lower(learner, keys, hparams, env_params, updates).compile()

    def run():
        return compiled(keys, hparams, env_params)[0]

    def eval_fn(key, state):
        episodes = cfg["eval_episodes"]
        returns, _ = evaluate(
            learner, key, state, env_params, episodes, MAX_EPISODE_STEPS, True
        )
        return returns.mean()

    def evaluate_population(states):
        eval_keys = jax.random.split(jax.random.PRNGKey(cfg["seed"] + 1), pop)
        return jax.jit(jax.vmap(eval_fn))(eval_keys, states)

    return run, evaluate_population, _versions(["jax", "gymnax", "flax", "optax"])


def _sample_with_replacement(buffer, num, rng):
    """rejax's `ReplayBuffer.sample`, drawing with replacement."""
    import jax
    import jax.numpy as jnp

    index = jax.random.randint(rng, (num,), 0, jnp.maximum(buffer.num_entries, 1))
    return jax.tree.map(lambda x: x[index], buffer.data)


def build_rejax(cfg, with_replacement=False):
    """`(run, evaluate, versions)` for rejax's DQN, as `build_jaxmeta`."""
    import jax
    import jax.numpy as jnp
    from rejax import DQN
    from rejax.buffers import ReplayBuffer
    from rejax.evaluate import evaluate

    if with_replacement:
        ReplayBuffer.sample = _sample_with_replacement

    total = cfg["total_steps"]
    base = DQN.create(
        env="CartPole-v1",
        agent="QNetwork",
        agent_kwargs={"activation": "relu"},
        num_envs=FIXED["num_envs"],
        buffer_size=FIXED["buffer_size"],
        fill_buffer=FIXED["fill_buffer"],
        batch_size=FIXED["batch_size"],
        num_epochs=FIXED["gradient_steps"],
        target_update_freq=1,
        polyak=1.0 - FIXED["tau"],
        eps_start=FIXED["eps_start"],
        eps_end=FIXED["eps_end"],
        exploration_fraction=FIXED["exploration_fraction"],
        gamma=FIXED["gamma"],
        max_grad_norm=FIXED["max_grad_norm"],
        ddqn=True,
        total_timesteps=total,
        # One evaluation block holding every iteration; the callback is a no-op.
        eval_freq=total,
        skip_initial_evaluation=True,
        normalize_observations=False,
    )
    algo = base.replace(eval_callback=lambda algo, ts, rng: ())
    rates = jnp.asarray(learning_rates(cfg))
    keys = jax.random.split(jax.random.PRNGKey(cfg["seed"]), cfg["population"])

    def train_member(rate, key):
        return algo.replace(learning_rate=rate).train(key)[0]

    compiled = jax.jit(jax.vmap(train_member)).lower(rates, keys).compile()

    def run():
        return compiled(rates, keys)

    def eval_member(rate, ts, key):
        member = algo.replace(learning_rate=rate)
        act = member.make_act(ts)  # epsilon 0.005
        episodes = cfg["eval_episodes"]
        env, env_params = member.env, member.env_params
        _, returns = evaluate(act, key, env, env_params, episodes, MAX_EPISODE_STEPS)
        return returns.mean()

    def evaluate_population(states):
        eval_keys = jax.random.split(
            jax.random.PRNGKey(cfg["seed"] + 1), cfg["population"]
        )
        return jax.jit(jax.vmap(eval_member))(rates, states, eval_keys)

    return run, evaluate_population, _versions(["jax", "gymnax", "rejax"])


def serve(side, cfg):
    """Worker: compile and warm up, then answer `run` / `eval` / `quit` lines
    on stdin with one `TIME` / `EVAL` json line each on stdout."""
    import jax

    start = time.perf_counter()
    if side == "jaxmeta":
        run, evaluate_population, versions = build_jaxmeta(cfg)
    else:
        replace = side == SIDES[2]
        run, evaluate_population, versions = build_rejax(cfg, replace)
    compile_s = time.perf_counter() - start
    states = jax.block_until_ready(run())
    print("READY " + json.dumps({"compile_s": compile_s, "versions": versions}))
    sys.stdout.flush()
    for line in sys.stdin:
        command = line.strip()
        if command == "run":
            wall, cpu = time.perf_counter(), time.process_time()
            states = jax.block_until_ready(run())
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print("TIME " + json.dumps({"wall_s": wall, "cpu_s": cpu}))
        elif command == "eval":
            returns = np.asarray(evaluate_population(states))
            print("EVAL " + json.dumps({"eval_return": float(returns.mean())}))
        else:
            return
        sys.stdout.flush()


class Worker:
    """One side's worker process, spoken to line by line."""

    def __init__(self, python, side, cfg):
        self.side = side
        self.log = tempfile.TemporaryFile(mode="w+")
        cmd = [python, os.path.abspath(__file__), "--worker", side, json.dumps(cfg)]
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.ready = self.reply("READY")

    def reply(self, prefix):
        for line in self.proc.stdout:
            if line.startswith(prefix + " "):
                return json.loads(line[len(prefix) + 1 :])
        self.log.seek(0)
        raise RuntimeError(f"{self.side} worker failed:\n{self.log.read()[-3000:]}")

    def ask(self, command, prefix):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.reply(prefix)

    def close(self):
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()
        self.proc.wait()


def spread(values) -> str:
    """'median (min - max)' of `values`."""
    values = np.asarray(values, float)
    return f"{np.median(values):,.0f} ({values.min():,.0f} - {values.max():,.0f})"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--population", type=int, default=64)
    parser.add_argument("--total-steps", type=int, default=100_000, help="per member")
    parser.add_argument("--lr-min", type=float, default=3e-4)
    parser.add_argument("--lr-max", type=float, default=3e-3)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per side")
    parser.add_argument("--eval-episodes", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rejax-venv", default="/tmp/jaxmeta-rejax-venv")
    parser.add_argument("--rejax-python", help="skip detection, use this python")
    parser.add_argument(
        "--no-patched-rejax",
        dest="patched_rejax",
        action="store_false",
        help="skip the side running rejax with a with-replacement sampler",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 4 members, 6,000 steps"
    )
    parser.add_argument(
        "--worker", nargs=2, metavar=("SIDE", "CONFIG"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.population, args.total_steps, args.repeats = 4, 6_000, 2
    if args.total_steps % FIXED["num_envs"] or args.total_steps < FIXED["num_envs"]:
        parser.error(f"total-steps must be a positive multiple of {FIXED['num_envs']}")
    if args.population < 1 or args.repeats < 1:
        parser.error("population and repeats must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        serve(args.worker[0], json.loads(args.worker[1]))
        return
    rejax_py = args.rejax_python or rejax_python(args.rejax_venv)
    cfg = {
        "population": args.population,
        "total_steps": args.total_steps,
        "lr_min": args.lr_min,
        "lr_max": args.lr_max,
        "eval_episodes": args.eval_episodes,
        "seed": args.seed,
    }
    print(
        f"CartPole-v1, {args.population} members x {args.total_steps:,} env steps, "
        f"lr log-spaced [{args.lr_min:g}, {args.lr_max:g}], 64x64 relu Q network, "
        f"{FIXED}; {os.cpu_count()} CPUs, {args.repeats} interleaved repeats"
    )
    print(f"rejax python: {rejax_py}\n")
    sides = SIDES if args.patched_rejax else SIDES[:2]
    workers = {
        side: Worker(sys.executable if side == "jaxmeta" else rejax_py, side, cfg)
        for side in sides
    }
    names, times = list(workers), {name: [] for name in workers}
    for r in range(args.repeats):
        turn = r % len(names)
        for name in names[turn:] + names[:turn]:
            times[name].append(workers[name].ask("run", "TIME"))
    work = args.population * args.total_steps
    rates = {n: [work / t["wall_s"] for t in times[n]] for n in names}
    header = (
        "| side | env steps/s, median (min - max) | env steps per CPU-s, median "
        "| compile s | mean eval return |"
    )
    print(header + "\n|---|---|---|---|---|")
    for name, worker in workers.items():
        cpu = np.median([work / t["cpu_s"] for t in times[name]])
        result = worker.ask("eval", "EVAL")
        print(
            f"| {name} | {spread(rates[name])} | {cpu:,.0f} "
            f"| {worker.ready['compile_s']:.1f} | {result['eval_return']:.1f} |"
        )
        worker.close()
    print()
    for name in names[1:]:
        pairs = [a / b for a, b in zip(rates["jaxmeta"], rates[name], strict=True)]
        values = ", ".join(f"{x:.2f}" for x in pairs)
        print(f"steps/s ratio jaxmeta / {name}, per round: {values}")
    versions = {n: w.ready["versions"] for n, w in workers.items()}
    print(f"versions: {json.dumps(versions)}")


if __name__ == "__main__":
    main()
