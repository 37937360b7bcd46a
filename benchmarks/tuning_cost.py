"""What a tuning run costs: the same random search of 32 PPO configs on
CartPole-v1 at about 1e5 env steps each, three ways, side by side in one run.

- jaxmeta: the 32 configs are one vmapped population (`jax.vmap(train)` over
  their hparams, one compiled program), then a vmapped greedy evaluation.
- Optuna + Stable-Baselines3: an Optuna study (random sampler) whose trials
  are the same configs, enqueued; each trial trains SB3's PPO, one after
  another (benchmarks/_tuning_peer_sb3.py, own venv with the CPU torch).
- ARLBench: one `AutoRLEnv.step(config)` per config, one after another; its
  hyperparameters are static, so every config compiles anew
  (benchmarks/_tuning_peer_arlbench.py, own venv: it pins jax 0.4.26).

The configs are drawn once (numpy, `--seed`) from a space all three accept
(ARLBench's PPO space with the degenerate ends cut: a clip or grad norm of
0, an entropy weight of 0.5, a rate of 1e-6 or 0.1). Everything else is fixed
and equal: 8 envs x 128 steps per update, 97 updates (99,328 env steps), 4
epochs of 8 minibatches, gamma 0.99, value loss clipped at clip_eps, advantages
normalised, 64x64 tanh networks. Each side scores a config by the mean
deterministic return of 32 evaluation episodes; the best return found is the
max over configs. Wall time is the whole search, compilation included (a
user waits for it); jaxmeta's is also given without compilation.

    python benchmarks/tuning_cost.py                    # 32 configs on every side
    python benchmarks/tuning_cost.py --peer-trials 4    # peers run 4 configs only
    python benchmarks/tuning_cost.py --quick            # 4 configs x 10k steps

With `--peer-trials K` < configs, each peer runs the first K configs and its
wall time for all of them is extrapolated (K's mean x configs, marked), and
"best return" is compared over those K configs on every side.
"""

import argparse
import json
import os
import time

import numpy as np
from _peer_venv import peer_python, run_peer_script

FIXED = {
    "num_envs": 8,
    "num_steps": 128,
    "epochs": 4,
    "minibatches": 8,  # minibatch 128, one of ARLBench's choices
    "gamma": 0.99,
    "hidden": [64, 64],
}
# name: (scale, low, high), shared by the three sides.
SPACE = {
    "learning_rate": ("log", 1e-5, 1e-2),
    "gae_lambda": ("uniform", 0.8, 0.9999),
    "clip_eps": ("uniform", 0.05, 0.5),
    "ent_coef": ("uniform", 0.0, 0.05),
    "vf_coef": ("uniform", 0.1, 1.0),
    "max_grad_norm": ("uniform", 0.1, 1.0),
}
SB3_PACKAGES = ["torch==2.13.0", "stable-baselines3>=2.3", "optuna>=3.6", "gymnasium"]
ARLBENCH_PACKAGES = [
    "arlbench==0.1.3",
    "gymnasium",
    # ARLBench pins jax 0.4.26 but not what that needs: a 2024 stack.
    "numpy<2",
    "ml-dtypes<0.5",
    "pandas<2.3",
    "scipy<1.14",
    "mujoco==3.1.4",
    "mujoco-mjx==3.1.4",
    "tensorstore<0.1.70",
    "orbax-checkpoint<0.6",
]


def sample_configs(num: int, seed: int) -> list[dict]:
    """`num` configs drawn uniformly (log-uniformly for "log") from SPACE."""
    rng = np.random.default_rng(seed)
    configs = []
    for _ in range(num):
        config = {}
        for name, (scale, low, high) in SPACE.items():
            if scale == "log":
                config[name] = float(np.exp(rng.uniform(np.log(low), np.log(high))))
            else:
                config[name] = float(rng.uniform(low, high))
        configs.append(config)
    return configs


def jaxmeta_side(configs, total_steps, eval_episodes, seed, repeats):
    """Train the configs as one vmapped population; returns a result dict with
    the wall time of compile + first run + evaluation, and of later runs."""
    began = time.perf_counter()
    import jax
    import jax.numpy as jnp

    from jaxmeta.envs import make
    from jaxmeta.learners import PPO, hparams_with, train
    from jaxmeta.learners.common.evaluate import evaluate

    env, env_params = make("CartPole-v1")
    learner = PPO(
        env,
        num_envs=FIXED["num_envs"],
        num_steps=FIXED["num_steps"],
        num_epochs=FIXED["epochs"],
        num_minibatches=FIXED["minibatches"],
        hidden=tuple(FIXED["hidden"]),
        activation="tanh",
    )
    updates = total_steps // learner.steps_per_update
    base = hparams_with(learner.default_hparams(), gamma=FIXED["gamma"])
    columns = {n: jnp.asarray([c[n] for c in configs], jnp.float32) for n in SPACE}
    hparams = jax.tree_util.tree_map(lambda x: jnp.full(len(configs), x), base)
    hparams = hparams.replace(**columns)
    keys = jax.random.split(jax.random.key(seed), len(configs))

    def search(keys, hparams):
        states, _ = jax.vmap(train, in_axes=(None, 0, 0, None, None))(
            learner, keys, hparams, env_params, updates
        )
        eval_keys = jax.random.split(jax.random.key(seed + 1), len(configs))

        def score(key, state):
            returns, _ = evaluate(
                learner, key, state, env_params, eval_episodes, 500, True
            )
            return returns.mean()

        return jax.vmap(score)(eval_keys, states)

    compiled = jax.jit(search).lower(keys, hparams).compile()
    compile_s = time.perf_counter() - began
    returns = np.asarray(compiled(keys, hparams))
    first_s = time.perf_counter() - began
    again = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(keys, hparams))
        again.append(time.perf_counter() - start)
    from importlib import metadata

    return {
        "seconds_total": first_s,
        "compile_s": compile_s,
        "run_s": again,
        "returns": returns.tolist(),
        "steps": updates * learner.steps_per_update,
        "versions": {n: metadata.version(n) for n in ("jax", "gymnax", "flax")},
    }


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", type=int, default=32)
    parser.add_argument(
        "--updates", type=int, default=97, help="PPO updates of 1,024 env steps"
    )
    parser.add_argument("--eval-episodes", type=int, default=32)
    parser.add_argument("--peer-trials", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3, help="jaxmeta reruns")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sb3-venv", default="/tmp/jaxmeta-optuna-sb3-venv")
    parser.add_argument("--arlbench-venv", default="/tmp/jaxmeta-arlbench-venv")
    parser.add_argument("--skip", nargs="*", default=[], choices=["sb3", "arlbench"])
    parser.add_argument("--quick", action="store_true", help="4 configs x 10 updates")
    args = parser.parse_args(argv)
    if args.quick:
        args.configs, args.updates, args.eval_episodes = 4, 10, 8
    for name in ("configs", "updates", "eval_episodes", "repeats", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    trials = args.peer_trials or args.configs
    if not 1 <= trials <= args.configs:
        parser.error(f"--peer-trials must be in [1, --configs={args.configs}]")
    args.peer_trials = trials
    return args


def main(argv=None):
    args = parse_args(argv)
    configs = sample_configs(args.configs, args.seed)
    total_steps = args.updates * FIXED["num_envs"] * FIXED["num_steps"]
    print(
        f"CartPole-v1 PPO, random search: {args.configs} configs x {total_steps:,} "
        f"env steps; {FIXED}; space {SPACE}; {os.cpu_count()} CPUs; peers run "
        f"{args.peer_trials} of the configs\n"
    )
    peer_config = {
        "fixed": FIXED,
        "space": SPACE,
        "configs": configs[: args.peer_trials],
        "total_steps": total_steps,
        "eval_episodes": args.eval_episodes,
        "threads": args.threads,
    }
    results = {}
    results["jaxmeta"] = jaxmeta_side(
        configs, total_steps, args.eval_episodes, args.seed, args.repeats
    )
    if "sb3" not in args.skip:
        probe = "import optuna, torch, stable_baselines3"
        python = peer_python(args.sb3_venv, SB3_PACKAGES, probe)
        results["Optuna + SB3"] = run_peer_script(
            python, "_tuning_peer_sb3.py", peer_config
        )
    if "arlbench" not in args.skip:
        python = peer_python(args.arlbench_venv, ARLBENCH_PACKAGES, "import arlbench")
        results["ARLBench"] = run_peer_script(
            python, "_tuning_peer_arlbench.py", peer_config
        )
    report(results, args, total_steps)


def report(results, args, total_steps):
    """Print the table and each side's versions."""
    k, n = args.peer_trials, args.configs
    ours = results["jaxmeta"]
    ours_wall = ours["seconds_total"]
    print(
        "| side | wall s, whole search | env steps/s | best return (all configs)"
        f" | best return (first {k}) | median return | wall / jaxmeta |"
    )
    print("|---|---|---|---|---|---|---|")
    runs = np.asarray(ours["run_s"])
    print(
        f"| jaxmeta (vmapped, incl. {ours['compile_s']:.1f} s compile) "
        f"| {ours_wall:.1f} | {n * total_steps / ours_wall:,.0f} "
        f"| {max(ours['returns']):.1f} | {max(ours['returns'][:k]):.1f} "
        f"| {np.median(ours['returns']):.1f} | 1.0 |"
    )
    print(
        f"| jaxmeta, compiled (median of {len(runs)}, {runs.min():.1f}-"
        f"{runs.max():.1f}) | {np.median(runs):.1f} "
        f"| {n * total_steps / np.median(runs):,.0f} | | | | "
        f"{np.median(runs) / ours_wall:.2f} |"
    )
    for name in ("Optuna + SB3", "ARLBench"):
        if name not in results:
            continue
        peer = results[name]
        wall = float(np.mean(peer["seconds"])) * n if k < n else peer["total_s"]
        mark = f" (extrapolated from {k})" if k < n else ""
        best_all = f"{max(peer['returns']):.1f}" if k == n else "n/a"
        print(
            f"| {name} (sequential) | {wall:.1f}{mark} "
            f"| {n * total_steps / wall:,.0f} | {best_all} "
            f"| {max(peer['returns']):.1f} | {np.median(peer['returns']):.1f} "
            f"| {wall / ours_wall:.1f} |"
        )
    print()
    for name, result in results.items():
        print(f"{name}: versions {json.dumps(result['versions'])}")
        print(f"  returns: {[round(r, 1) for r in result['returns']]}")
        if "seconds" in result:
            print(f"  seconds per config: {[round(s, 1) for s in result['seconds']]}")


if __name__ == "__main__":
    main()
