"""What a user pays for the run layer: 64 PPO members on CartPole-v1 trained
through the full driver (progress bar, metrics.csv, TensorBoard, orbax
checkpoints) against the bare `jit(vmap(train))` at the same work.

Three sides, interleaved `--repeats` times, each timed end to end (init and
every update; compilation excluded by a warm-up of each side first):
  bare            jax.jit(jax.vmap(train)) over the whole run, one call
  driver          run.driver with a run directory, checkpoints at the default
                  interval (60 s), progress, CSV and TensorBoard
  driver+ckpt     the same with a checkpoint after every chunk
Prints steps/s (median and spread over repeats) and per process-CPU second
(user + system time, which moves less than wall time on a shared VM whose
CPU is stolen by neighbours), the driver's cost relative to bare in both, and
the checkpoint size and seconds per save.

    python benchmarks/run_overhead.py                # 64 members, 80 updates
    python benchmarks/run_overhead.py --quick        # 8 members, 8 updates
"""

import argparse
import os
import shutil
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxmeta.envs import make
from jaxmeta.learners import PPO, train
from jaxmeta.run import driver
from jaxmeta.run.population_training import PopulationTraining


def population_hparams(learner, size):
    base = learner.default_hparams()
    hparams = jax.tree_util.tree_map(lambda x: jnp.full((size,), x), base)
    rates = np.geomspace(5e-4, 3e-3, size).astype(np.float32)
    return hparams.replace(learning_rate=jnp.asarray(rates))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=64)
    parser.add_argument("--updates", type=int, default=80)
    parser.add_argument("--chunk", type=int, default=10, help="updates per chunk")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.population, args.updates, args.chunk, args.repeats = 8, 8, 4, 2
    env, env_params = make("CartPole-v1")
    learner = PPO(env, num_envs=16, num_steps=64, num_epochs=4, num_minibatches=4)
    hparams = population_hparams(learner, args.population)
    key = jax.random.key(0)
    keys = jax.random.split(key, args.population)
    steps = args.population * args.updates * learner.steps_per_update

    bare = jax.jit(
        jax.vmap(train, in_axes=(None, 0, 0, None, None)), static_argnums=(0, 4)
    )
    compiled = bare.lower(learner, keys, hparams, env_params, args.updates).compile()

    def run_bare():
        jax.block_until_ready(compiled(keys, hparams, env_params))
        return {}

    root = tempfile.mkdtemp(prefix="jaxmeta-overhead-")

    def run_driver(checkpoint_every):
        run_dir = tempfile.mkdtemp(dir=root)
        experiment = PopulationTraining(
            learner, hparams, env_params, args.updates, args.chunk, False,
            keep_metrics=False,
        )  # fmt: skip
        options = driver.RunOptions(checkpoint_every=checkpoint_every)
        state, _, info = driver.run(experiment, run_dir, options, key=key)
        jax.block_until_ready(state)
        shutil.rmtree(run_dir)
        return info

    sides = {
        "bare jit(vmap(train))": run_bare,
        "driver (checkpoint every 60 s)": lambda: run_driver(0),
        "driver (checkpoint every chunk)": lambda: run_driver(1),
    }
    for run in sides.values():  # warm-up: compile every side's programs
        run()
    times = {name: [] for name in sides}
    cpu = {name: [] for name in sides}
    saves, sizes = [], []
    names = list(sides)
    for repeat in range(args.repeats):
        # Rotate the order, so no side always runs right after another.
        for name in names[repeat % 3 :] + names[: repeat % 3]:
            wall, process = time.perf_counter(), time.process_time()
            info = sides[name]()
            times[name].append(time.perf_counter() - wall)
            cpu[name].append(time.process_time() - process)
            if name.endswith("every chunk)"):
                saves.extend(info["checkpoint_seconds"])
                sizes.append(info["checkpoint_bytes"])
    shutil.rmtree(root, ignore_errors=True)
    base = float(np.median(times["bare jit(vmap(train))"]))
    base_cpu = float(np.median(cpu["bare jit(vmap(train))"]))
    print(
        f"\n{args.population} PPO members x {args.updates} updates x "
        f"{learner.steps_per_update} steps on CartPole-v1, chunks of "
        f"{args.chunk} updates, {args.repeats} interleaved repeats, "
        f"{jax.device_count()} device(s)\n"
    )
    print(
        "| side | steps/s (median) | min - max | cost vs bare (wall) "
        "| steps per CPU-s | cost vs bare (CPU) |"
    )
    print("|---|---|---|---|---|---|")
    for name, values in times.items():
        rates = steps / np.asarray(values)
        cost = float(np.median(values)) / base - 1.0
        cpu_cost = float(np.median(cpu[name])) / base_cpu - 1.0
        print(
            f"| {name} | {np.median(rates):,.0f} | {rates.min():,.0f} - "
            f"{rates.max():,.0f} | {cost:+.1%} | "
            f"{steps / np.median(cpu[name]):,.0f} | {cpu_cost:+.1%} |"
        )
    print(
        f"\ncheckpoint: {np.median(sizes) / 2**20:.1f} MiB, "
        f"{np.median(saves):.3f} s per save (median of {len(saves)}, "
        f"max {np.max(saves):.3f} s)"
    )
    print(f"device: {os.uname().machine}, {jax.devices()[0].platform}")


if __name__ == "__main__":
    main()
