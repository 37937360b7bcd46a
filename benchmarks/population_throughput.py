"""Population throughput: jaxmeta PPO against rejax PPO on CartPole-v1.

Both sides train a vmapped population (own learning rate and key per member) in
one compiled program at the identical config. Compile s = wall time of
`jit(...).lower(...).compile()`; steps/s = population x steps per member / the
median of `--repeats` runs after one warm-up run (`block_until_ready`). Each
(side, population) runs in a fresh subprocess; rejax in its own virtualenv when
it cannot run here. benchmarks/README.md says what is fixed, what is varied, how
rejax's evaluation is disabled and how its environment is built.

    python benchmarks/population_throughput.py            # 1, 16, 64 members
    python benchmarks/population_throughput.py --quick    # small smoke run
"""

import argparse
import importlib.metadata as metadata
import json
import os
import subprocess
import sys
import time

REJAX_PINS = ("rejax==0.1.3", "gymnax==0.0.9")  # last gymnax with 5-value step
# Pinned to this environment's versions, so both sides run the same XLA. rejax
# also needs distrax, which jaxmeta does not install: pip picks it in the venv.
SHARED_PINS = ("jax", "jaxlib", "flax", "optax", "chex", "numpy")
FIXED_HPARAMS = {
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "clip_eps": 0.2,
    "ent_coef": 0.01,
    "vf_coef": 0.5,
    "max_grad_norm": 0.5,
}
MAX_EPISODE_STEPS = 500  # CartPole-v1


def population_hparams(cfg):
    """Per-member hyperparameters, each a float32 array `[population]`."""
    import numpy as np

    pop, lo, hi = cfg["population"], cfg["lr_min"], cfg["lr_max"]
    lrs = np.geomspace(lo, hi, pop) if pop > 1 else np.array([np.sqrt(lo * hi)])
    values = {"learning_rate": lrs, **FIXED_HPARAMS}
    return {k: np.broadcast_to(np.float32(v), (pop,)).copy() for k, v in values.items()}


def num_updates(cfg):
    return cfg["total_steps"] // (cfg["num_envs"] * cfg["num_steps"])


def time_compiled(jitted, args, dynamic_args, repeats):
    """Compile `jitted` for `args`, run it once, then time `repeats` more runs.

    Returns `(timings, outputs)`: wall and process-CPU seconds of the compile
    and of the median timed run (CPU seconds are less sensitive to other load).
    """
    import jax
    import numpy as np

    wall, cpu = time.perf_counter(), time.process_time()
    compiled = jitted.lower(*args).compile()
    timings = {
        "compile_s": time.perf_counter() - wall,
        "compile_cpu_s": time.process_time() - cpu,
    }
    out = jax.block_until_ready(compiled(*dynamic_args))
    runs, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        out = jax.block_until_ready(compiled(*dynamic_args))
        runs.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    timings.update(run_s=float(np.median(runs)), run_cpu_s=float(np.median(cpus)))
    return timings, out


def run_jaxmeta(cfg):
    """Time a jaxmeta PPO population. Returns a result dict."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxmeta.envs import make
    from jaxmeta.learners import PPO, hparams_with, train
    from jaxmeta.learners.common.evaluate import evaluate

    env, env_params = make("CartPole-v1")
    learner = PPO(
        env,
        num_envs=cfg["num_envs"],
        num_steps=cfg["num_steps"],
        num_epochs=cfg["num_epochs"],
        num_minibatches=cfg["num_minibatches"],
        hidden=(64, 64),
        activation="tanh",
        normalize_obs=False,
        # rejax treats time-limit truncation as termination; match it.
        bootstrap_truncation=False,
    )
    hparams = hparams_with(learner.default_hparams(), **population_hparams(cfg))
    keys = jax.random.split(jax.random.PRNGKey(cfg["seed"]), cfg["population"])
    updates = num_updates(cfg)
    fn = jax.jit(
        jax.vmap(train, in_axes=(None, 0, 0, None, None)), static_argnums=(0, 4)
    )
    timings, (state, metrics) = time_compiled(
        fn,
        (learner, keys, hparams, env_params, updates),
        (keys, hparams, env_params),
        cfg["repeats"],
    )
    returns = np.asarray(metrics["episode_return"])  # [population, updates]
    last_train = [
        r[np.isfinite(r)][-1] if np.isfinite(r).any() else np.nan for r in returns
    ]
    eval_keys = jax.random.split(jax.random.PRNGKey(cfg["seed"] + 1), cfg["population"])
    eval_fn = jax.jit(
        jax.vmap(
            lambda k, s: evaluate(
                learner, k, s, env_params, cfg["eval_episodes"], MAX_EPISODE_STEPS
            )[0].mean()
        )
    )
    eval_returns = eval_fn(eval_keys, state)
    return {
        **timings,
        "train_return": float(np.nanmean(last_train)),
        "eval_return": float(jnp.mean(eval_returns)),
        "versions": _versions(["jax", "gymnax", "flax", "optax"]),
    }


def run_rejax(cfg):
    """Time a rejax PPO population. Returns a result dict."""
    import jax
    import jax.numpy as jnp
    from rejax import PPO
    from rejax.evaluate import evaluate

    updates = num_updates(cfg)
    total = updates * cfg["num_envs"] * cfg["num_steps"]
    base = PPO.create(
        env="CartPole-v1",
        num_envs=cfg["num_envs"],
        num_steps=cfg["num_steps"],
        num_epochs=cfg["num_epochs"],
        num_minibatches=cfg["num_minibatches"],
        total_timesteps=total,
        # One evaluation block holding all updates; the callback below is a no-op.
        eval_freq=total,
        skip_initial_evaluation=True,
        normalize_observations=False,
        normalize_rewards=False,
        agent_kwargs={"activation": "tanh", "hidden_layer_sizes": (64, 64)},
    )
    algo = base.replace(eval_callback=lambda algo, ts, rng: ())

    def train_member(hparams, key):
        return algo.replace(**hparams).train(key)[0]

    hparams = {k: jnp.asarray(v) for k, v in population_hparams(cfg).items()}
    keys = jax.random.split(jax.random.PRNGKey(cfg["seed"]), cfg["population"])
    fn = jax.jit(jax.vmap(train_member))
    timings, state = time_compiled(fn, (hparams, keys), (hparams, keys), cfg["repeats"])

    def eval_member(hparams, ts, key):
        member = algo.replace(**hparams)
        _, returns = evaluate(
            member.make_act(ts),
            key,
            member.env,
            member.env_params,
            cfg["eval_episodes"],
            MAX_EPISODE_STEPS,
        )
        return returns.mean()

    eval_keys = jax.random.split(jax.random.PRNGKey(cfg["seed"] + 1), cfg["population"])
    eval_returns = jax.jit(jax.vmap(eval_member))(hparams, state, eval_keys)
    return {
        **timings,
        "train_return": float("nan"),  # rejax keeps no training-episode returns
        "eval_return": float(jnp.mean(eval_returns)),
        "versions": _versions(["jax", "gymnax", "flax", "optax", "rejax"]),
    }


def _versions(names):
    return {n: metadata.version(n) for n in names}


def rejax_runs_with(python):
    """Whether a tiny rejax PPO train runs under the interpreter `python`."""
    probe = (
        "import jax; from rejax import PPO; a = PPO.create(env='CartPole-v1', "
        "num_envs=2, num_steps=4, num_epochs=1, num_minibatches=1, "
        "total_timesteps=8, eval_freq=8, skip_initial_evaluation=True); "
        "jax.block_until_ready(a.train(jax.random.PRNGKey(0)))"
    )
    done = subprocess.run([python, "-c", probe], capture_output=True, timeout=600)
    return done.returncode == 0


def rejax_python(venv_dir):
    """An interpreter that runs rejax: this one if it can, else a separate venv.

    The venv pins jax/jaxlib/flax/optax/chex/numpy to this environment's
    versions (so both sides run the same XLA) plus REJAX_PINS.
    """
    if rejax_runs_with(sys.executable):
        return sys.executable
    python = os.path.join(venv_dir, "bin", "python")
    pins = [f"{n}=={metadata.version(n)}" for n in SHARED_PINS] + list(REJAX_PINS)
    marker = os.path.join(venv_dir, "jaxmeta-benchmark-pins.txt")
    if not (os.path.exists(marker) and open(marker).read() == "\n".join(pins)):
        print(f"rejax cannot run here; building {venv_dir} with {pins}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", venv_dir], check=True)
        install = [python, "-m", "pip", "install", "--quiet", *pins]
        done = subprocess.run(install, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"pip install failed:\n{done.stderr[-3000:]}")
        with open(marker, "w") as handle:
            handle.write("\n".join(pins))
    if not rejax_runs_with(python):
        raise RuntimeError(f"rejax does not run in {venv_dir} either")
    return python


def run_side(python, side, cfg):
    """Run one (side, population) in a fresh process; returns its result dict."""
    cmd = [python, os.path.abspath(__file__), "--worker", side, json.dumps(cfg)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    if done.returncode or not lines:
        raise RuntimeError(f"{side} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--populations", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--total-steps", type=int, default=2**17, help="per member")
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--num-steps", type=int, default=128)
    parser.add_argument("--num-epochs", type=int, default=4)
    parser.add_argument("--num-minibatches", type=int, default=4)
    parser.add_argument("--lr-min", type=float, default=5e-4)
    parser.add_argument("--lr-max", type=float, default=3e-3)
    parser.add_argument("--repeats", type=int, default=1, help="timed runs")
    parser.add_argument("--eval-episodes", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--learned-return", type=float, default=100.0, help="warn below this"
    )
    parser.add_argument("--rejax-venv", default="/tmp/jaxmeta-rejax-venv")
    parser.add_argument("--rejax-python", help="skip detection, use this python")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1 and 4 members, 8 envs x 64 steps, 2^13 steps",
    )
    parser.add_argument(
        "--worker", nargs=2, metavar=("SIDE", "CONFIG"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.populations, args.total_steps = [1, 4], 2**13
        args.num_envs, args.num_steps = 8, 64
    batch = args.num_envs * args.num_steps
    if args.total_steps < batch or batch % args.num_minibatches:
        parser.error("need total-steps >= num-envs*num-steps, divisible minibatches")
    if min(args.populations) < 1:
        parser.error("populations must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        side, cfg = args.worker[0], json.loads(args.worker[1])
        result = (run_jaxmeta if side == "jaxmeta" else run_rejax)(cfg)
        print("RESULT " + json.dumps(result), flush=True)
        return
    rejax_py = args.rejax_python or rejax_python(args.rejax_venv)
    base = {
        "num_envs": args.num_envs,
        "num_steps": args.num_steps,
        "num_epochs": args.num_epochs,
        "num_minibatches": args.num_minibatches,
        "total_steps": args.total_steps,
        "lr_min": args.lr_min,
        "lr_max": args.lr_max,
        "repeats": args.repeats,
        "eval_episodes": args.eval_episodes,
        "seed": args.seed,
    }
    steps = num_updates(base) * args.num_envs * args.num_steps
    print(
        f"CartPole-v1, {steps} env steps per member ({num_updates(base)} updates of "
        f"{args.num_envs} envs x {args.num_steps} steps), {args.num_epochs} epochs x "
        f"{args.num_minibatches} minibatches, 64x64 tanh, lr log-spaced "
        f"[{args.lr_min:g}, {args.lr_max:g}], {FIXED_HPARAMS}"
    )
    print(f"rejax python: {rejax_py}\n")
    header = (
        "| population | jaxmeta steps/s | rejax steps/s | ratio (jaxmeta/rejax) "
        "| jaxmeta compile s | rejax compile s | jaxmeta final train return "
        "| jaxmeta eval return | rejax eval return |"
    )
    print(header)
    print("|" + "---|" * header.count(" | ") + "---|")
    versions, cpu_rows, not_learned = {}, [], []
    for pop in args.populations:
        cfg = {**base, "population": pop}
        mine = run_side(sys.executable, "jaxmeta", cfg)
        theirs = run_side(rejax_py, "rejax", cfg)
        versions = {"jaxmeta side": mine["versions"], "rejax side": theirs["versions"]}
        ours, peer = pop * steps / mine["run_s"], pop * steps / theirs["run_s"]
        print(
            f"| {pop} | {ours:,.0f} | {peer:,.0f} | {ours / peer:.2f} "
            f"| {mine['compile_s']:.1f} | {theirs['compile_s']:.1f} "
            f"| {mine['train_return']:.1f} | {mine['eval_return']:.1f} "
            f"| {theirs['eval_return']:.1f} |",
            flush=True,
        )
        for side, result in (("jaxmeta", mine), ("rejax", theirs)):
            if not result["eval_return"] >= args.learned_return:
                not_learned.append(f"{side} at population {pop}")
        ours, peer = pop * steps / mine["run_cpu_s"], pop * steps / theirs["run_cpu_s"]
        cpu_rows.append(
            f"| {pop} | {ours:,.0f} | {peer:,.0f} | {ours / peer:.2f} "
            f"| {mine['compile_cpu_s']:.1f} | {theirs['compile_cpu_s']:.1f} |"
        )
    print("\nThe same runs per process-CPU second (less sensitive to other load):\n")
    print(
        "| population | jaxmeta steps/cpu-s | rejax steps/cpu-s | ratio "
        "| jaxmeta compile cpu-s | rejax compile cpu-s |"
    )
    print("|---|---|---|---|---|---|")
    print("\n".join(cpu_rows))
    print(f"\nversions: {json.dumps(versions)}")
    if not_learned:  # a random CartPole policy scores about 22
        print(
            f"WARNING: mean eval return below {args.learned_return:g} for "
            f"{', '.join(not_learned)}: that side did not learn at this budget"
        )


if __name__ == "__main__":
    main()
