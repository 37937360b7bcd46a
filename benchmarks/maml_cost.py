"""Cost of one meta-iteration of second-order MAML, FOMAML and Directed-MAML
on Navigation2D, jaxmeta vs the same meta-iteration in PyTorch.

MAML paper setup (Finn et al., 2017): goals U[-0.5, 0.5]^2, moves clipped to
+-0.1, horizon 100, 20 trajectories per task and inner step, one inner step
of lr 0.1, Gaussian MLP 100x100 (ReLU), rllab's linear baseline per task,
Adam outer step; meta-batch 20 and 40. The PyTorch side
(benchmarks/_maml_peer.py, own venv with the CPU torch: torch is not a
jaxmeta dependency) loops over the meta-batch with
`torch.autograd.grad(create_graph=True)`, the env as batched tensors.

    python benchmarks/maml_cost.py                 # 3 interleaved repeats
    python benchmarks/maml_cost.py --repeats 2 --meta-batches 20

Time: seconds per meta-iteration after one untimed warm-up iteration (jaxmeta
compiles once per config, reported apart). Peak memory: the growth of the
peak resident set over two meta-iterations in a fresh process (freed memory
returned to the OS and the peak reset first; jaxmeta's program comes from
the compilation cache), and XLA's own buffer sizes for jaxmeta.
"""

import argparse
import ctypes
import json
import os
import subprocess
import sys
import time

from _peer_venv import HERE, peer_python, run_peer_script

PEER_PACKAGES = ["torch==2.13.0"]
VARIANTS = ("maml", "fomaml", "directed-maml")
SETUP = {
    "hidden": [100, 100],
    "horizon": 100,
    "num_episodes": 20,
    "gamma": 0.99,
    "inner_lr": 0.1,
    "outer_lr": 1e-3,
    "baseline_reg": 1e-5,
}
CACHE = "/tmp/jaxmeta-maml-cost-cache"  # shared by the memory probes


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def _reset_peak() -> int:
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status("VmRSS")


def jaxmeta_program(variant: str, meta_batch: int):
    """(compile seconds, XLA bytes, run(seed, iterations) -> seconds list)."""
    import jax

    from jaxmeta.adapt import make_adapter
    from jaxmeta.envs import make

    env, _ = make("Navigation2D-v0")
    adapter = make_adapter(
        variant, env, meta_batch_size=meta_batch, hidden=tuple(SETUP["hidden"]),
        horizon=SETUP["horizon"], num_episodes=SETUP["num_episodes"],
    )  # fmt: skip
    hparams = adapter.default_hparams()  # inner lr 0.1, Adam 1e-3, gamma 0.99
    state = jax.jit(adapter.init)(jax.random.key(0), hparams)
    began = time.perf_counter()
    compiled = jax.jit(adapter.meta_update).lower(jax.random.key(1), state, hparams)
    compiled = compiled.compile()
    compile_s = time.perf_counter() - began
    stats = compiled.memory_analysis()
    xla_bytes = (
        stats.temp_size_in_bytes
        + stats.argument_size_in_bytes
        + stats.output_size_in_bytes
    )
    current = {"state": state}

    def run(seed: int, iterations: int) -> list[float]:
        seconds = []
        for i in range(iterations + 1):  # the first is an untimed warm-up
            key = jax.random.fold_in(jax.random.key(seed), i)
            began = time.perf_counter()
            new, metrics = compiled(key, current["state"], hparams)
            jax.block_until_ready((new, metrics))
            current["state"] = new
            if i:
                seconds.append(time.perf_counter() - began)
        return seconds

    return compile_s, xla_bytes, run


def jaxmeta_memory(variant: str, meta_batch: int) -> int:
    """Peak RSS growth of two meta-iterations, in a fresh process."""
    config = json.dumps({"variant": variant, "meta_batch": meta_batch})
    done = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--jax-probe", config],
        capture_output=True, text=True, env={**os.environ, **_cache_env()},
    )  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"jaxmeta probe failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["peak_bytes"]


def _jax_probe(config: dict) -> None:
    _, _, run = jaxmeta_program(config["variant"], config["meta_batch"])
    before = _reset_peak()
    run(0, 1)
    print(json.dumps({"peak_bytes": _status("VmHWM") - before}), flush=True)


def _cache_env() -> dict:
    return {
        "JAX_COMPILATION_CACHE_DIR": os.environ.get("JAX_COMPILATION_CACHE_DIR", CACHE),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    }


class TorchPeer:
    """A PyTorch process serving timing requests (one JSON line each)."""

    def __init__(self, python: str):
        self.process = subprocess.Popen(
            [python, "-W", "ignore", os.path.join(HERE, "_maml_peer.py"), "--serve"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip

    def run(self, config: dict) -> dict:
        self.process.stdin.write(json.dumps(config) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the PyTorch peer exited")
        return json.loads(line)

    def close(self):
        self.process.stdin.close()
        self.process.wait()


def _spread(values, scale=1.0, digits=2) -> str:
    import numpy as np

    values = np.asarray(values, float) * scale
    return (
        f"{np.median(values):.{digits}f} "
        f"[{values.min():.{digits}f}, {values.max():.{digits}f}]"
    )


def main(argv=None):
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--meta-batches", type=int, nargs="+", default=[20, 40])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--peer-venv", default="/tmp/jaxmeta-torch-venv")
    args = parser.parse_args(argv)
    os.environ.update(_cache_env())
    shared = "/tmp/jaxmeta-optuna-sb3-venv"  # tuning_cost's venv has torch too
    venv = args.peer_venv
    if not os.path.exists(os.path.join(venv, "bin", "python")) and os.path.exists(
        os.path.join(shared, "bin", "python")
    ):
        venv = shared
    python = peer_python(venv, PEER_PACKAGES, "import torch")
    configs = [(v, m) for m in args.meta_batches for v in args.variants]
    load_before = os.getloadavg()
    programs = {c: jaxmeta_program(*c) for c in configs}
    peer = TorchPeer(python)
    ours = {c: [] for c in configs}
    theirs = {c: [] for c in configs}
    for repeat in range(args.repeats):
        for config in configs:
            ours[config].append(np.mean(programs[config][2](repeat, args.iterations)))
            request = {
                **SETUP, "variant": config[0], "meta_batch_size": config[1],
                "iterations": args.iterations, "warmup": 1, "seed": repeat,
                "threads": args.torch_threads,
            }  # fmt: skip
            result = peer.run(request)
            theirs[config].append(np.mean(result["seconds"]))
    peer.close()
    memory = {}
    for config in configs:
        request = {
            **SETUP, "variant": config[0], "meta_batch_size": config[1],
            "iterations": 2, "warmup": 0, "seed": 0, "threads": args.torch_threads,
        }  # fmt: skip
        torch_peak = run_peer_script(python, "_maml_peer.py", request)["peak_bytes"]
        memory[config] = (jaxmeta_memory(*config), torch_peak, result["torch"])
    load_after = os.getloadavg()
    mb = 1 / 2**20
    print(
        f"\nNavigation2D meta-iteration (horizon 100, 20 trajectories per task, "
        f"MLP 100x100, inner lr 0.1, Adam): seconds per meta-iteration, median "
        f"[min, max] of {args.repeats} interleaved repeats of {args.iterations} "
        f"iterations; PyTorch {memory[configs[0]][2]} with "
        f"{args.torch_threads} thread(s); load average {load_before[0]:.1f} "
        f"before, {load_after[0]:.1f} after"
    )
    print(
        "| variant | meta-batch | jaxmeta s | PyTorch s | PyTorch / jaxmeta | "
        "jaxmeta peak MB (RSS; XLA buffers) | PyTorch peak MB | jaxmeta compile s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for config in configs:
        ratio = np.asarray(theirs[config]) / np.asarray(ours[config])
        rss, torch_peak, _ = memory[config]
        print(
            f"| {config[0]} | {config[1]} | {_spread(ours[config], digits=3)} | "
            f"{_spread(theirs[config])} | {_spread(ratio, digits=1)}x | "
            f"{rss * mb:.0f}; {programs[config][1] * mb:.0f} | "
            f"{torch_peak * mb:.0f} | {programs[config][0]:.1f} |"
        )
    every = np.concatenate(
        [np.asarray(theirs[c]) / np.asarray(ours[c]) for c in configs]
    )
    print(f"\nratio over all configs and repeats: {_spread(every, digits=1)}x "
          f"(goal >= 10x)")  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--jax-probe":
        _jax_probe(json.loads(sys.argv[2]))
    else:
        main()
