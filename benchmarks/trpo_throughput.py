"""30 vmapped xTRPO runs vs 30 sequential sb3-contrib TRPO runs at the same
env (Pendulum-v1), policy (MLP 64x64 Gaussian), rollout (1 env x num_steps
per update), CG iterations, line-search steps, critic steps (full-batch)
and updates; plus the cost of the metafeatures of one trust-region
meta-step at N = 64 against that step's update.

    python benchmarks/trpo_throughput.py              # 30 + 30 runs
    python benchmarks/trpo_throughput.py --sb3-runs 5 # fewer peer runs, scaled

sb3-contrib runs in its own venv (--peer-venv, built on first use with the
CPU build of torch this machine holds: pip install torch==2.13.0
sb3-contrib). Wall times exclude jaxmeta's compilation (reported apart);
the peer's per-run time is its `learn` call. Repeats are interleaved.
"""

import argparse
import time

import numpy as np
from _peer_venv import peer_python, run_peer_script

PEER_PACKAGES = ["torch==2.13.0", "sb3-contrib>=2.3", "gymnasium>=1.0"]


def jaxmeta_side(config):
    """Compile once, then a timer over repeated calls of the 30-run program."""
    import jax
    import jax.numpy as jnp

    from jaxmeta.envs import make
    from jaxmeta.learners import TRPO, train

    env, params = make("Pendulum-v1")
    learner = TRPO(
        env,
        num_envs=1,
        num_steps=config["num_steps"],
        variant="xtrpo",
        hidden=tuple(config["hidden"]),
        critic_hidden=tuple(config["hidden"]),
        cg_iters=config["cg_iters"],
        line_search_steps=config["line_search_steps"],
        vf_iters=config["vf_iters"],
        bootstrap_truncation=False,  # sb3 bootstraps only at rollout ends
    )
    hparams = learner.default_hparams().replace(max_kl=jnp.float32(config["max_kl"]))
    runs = config["jax_runs"]
    program = jax.jit(
        jax.vmap(
            lambda key: train(learner, key, hparams, params, config["updates"]),
        )
    )
    keys = jax.random.split(jax.random.key(0), runs)
    began = time.perf_counter()
    compiled = program.lower(keys).compile()
    compile_s = time.perf_counter() - began

    def once(seed):
        keys = jax.random.split(jax.random.key(seed), runs)
        began = time.perf_counter()
        _, metrics = jax.block_until_ready(compiled(keys))
        return time.perf_counter() - began, np.asarray(metrics["episode_return"])

    return compile_s, once


def metafeature_share(repeats: int):
    """Seconds of one EpisodicTRPO update (N = 64, CartPole 200 steps, linear
    policy) and of its metafeatures alone, both jitted."""
    import jax

    from jaxmeta.envs import make
    from jaxmeta.learners import EpisodicTRPO

    env, params = make("CartPoleContinuous-v1", max_steps_in_episode=200)
    learner = EpisodicTRPO(env, num_envs=64, num_steps=200, hidden=())
    hparams = learner.default_hparams()
    state = jax.jit(learner.init)(jax.random.key(0), hparams, params)
    update = jax.jit(learner.update)
    features = jax.jit(
        lambda key, s: learner._features(
            key, s.batch, s.valid, s.returns, s.batch, s.valid, s.returns
        )
    )
    jax.block_until_ready(update(jax.random.key(1), state, hparams, params))
    jax.block_until_ready(features(jax.random.key(1), state))
    timings = {"update": [], "features": []}
    for r in range(repeats):
        began = time.perf_counter()
        jax.block_until_ready(update(jax.random.key(r), state, hparams, params))
        timings["update"].append(time.perf_counter() - began)
        began = time.perf_counter()
        jax.block_until_ready(features(jax.random.key(r), state))
        timings["features"].append(time.perf_counter() - began)
    return {k: np.asarray(v) for k, v in timings.items()}


def _spread(values) -> str:
    values = np.asarray(values, float)
    return f"{np.median(values):.2f} [{values.min():.2f}, {values.max():.2f}]"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--sb3-runs", type=int, default=None)
    parser.add_argument("--updates", type=int, default=10)
    parser.add_argument("--num-steps", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--peer-venv", default="/tmp/jaxmeta-sb3-venv")
    args = parser.parse_args(argv)
    config = {
        "num_steps": args.num_steps,
        "updates": args.updates,
        "hidden": [64, 64],
        "cg_iters": 10,
        "line_search_steps": 10,
        "vf_iters": 10,
        "max_kl": 0.01,
        "episodes": 5,
        "threads": 1,
        "jax_runs": args.runs,
        "runs": args.sb3_runs or args.runs,
    }
    python = peer_python(args.peer_venv, PEER_PACKAGES, "import sb3_contrib, torch")
    compile_s, once = jaxmeta_side(config)
    ours, peers, our_returns, peer_finals, versions = [], [], None, [], {}
    for repeat in range(args.repeats):
        seconds, our_returns = once(repeat)
        ours.append(seconds)
        result = run_peer_script(python, "_trpo_peer.py", config)
        scale = args.runs / config["runs"]
        peers.append(sum(result["seconds"]) * scale)
        peer_finals += result["finals"]
        versions = result["versions"]
    ratio = np.asarray(peers) / np.asarray(ours)
    steps = args.runs * args.updates * args.num_steps
    our_final = our_returns[:, -1]
    print(f"\nTRPO, Pendulum-v1, MLP 64x64, {args.runs} runs x {args.updates} "
          f"updates x {args.num_steps} steps ({steps:,} env steps), "
          f"{args.repeats} interleaved repeats; peer {versions}")  # fmt: skip
    print("| side | wall s (median [min, max]) | env steps/s | final return |")
    print("|---|---|---|---|")
    print(f"| jaxmeta xTRPO, {args.runs} vmapped | {_spread(ours)} | "
          f"{steps / np.median(ours):,.0f} | {np.nanmean(our_final):.0f} ± "
          f"{np.nanstd(our_final):.0f} |")  # fmt: skip
    note = "" if config["runs"] == args.runs else f" ({config['runs']} run, scaled)"
    print(f"| sb3-contrib TRPO, sequential{note} | {_spread(peers)} | "
          f"{steps / np.median(peers):,.0f} | {np.nanmean(peer_finals):.0f} ± "
          f"{np.nanstd(peer_finals):.0f} |")  # fmt: skip
    print(
        f"\nwall-time ratio sb3 / jaxmeta: {_spread(ratio)} (goal >= 20x); "
        f"jaxmeta compile {compile_s:.1f} s, not in the ratio"
    )
    share = metafeature_share(max(args.repeats, 3))
    fraction = share["features"] / share["update"]
    print(f"metafeatures of one meta-step (N = 64, CartPole, 200 steps): "
          f"{_spread(share['features'] * 1e3)} ms of an update's "
          f"{_spread(share['update'] * 1e3)} ms = {_spread(fraction * 100)} % "
          f"(goal <= 20 %)")  # fmt: skip


if __name__ == "__main__":
    main()
