"""GP Bayesian optimisation (jaxmeta.search.bayes) against random search.

Maximises -f on Branin (2-d, min 0.397887) and Hartmann-6 (6-d, min -3.32237)
with a budget of 60 evaluations, 10 seeds vmapped in one compiled program, and
prints median / quartiles of the final simple regret and the wall time.

    python benchmarks/bayes_opt.py [--seeds 10] [--budget 60] [--batch 5]
"""

import argparse
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxmeta.search import SearchSpace, Uniform
from jaxmeta.search.bayes import BayesSearch

HARTMANN_ALPHA = jnp.array([1.0, 1.2, 3.0, 3.2])
HARTMANN_A = jnp.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
HARTMANN_P = 1e-4 * jnp.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)


def branin(x):
    """x: [..., 2] in [-5, 10] x [0, 15] -> [...]."""
    x1, x2 = x[..., 0], x[..., 1]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * jnp.cos(x1) + 10


def hartmann6(x):
    """x: [..., 6] in the unit cube -> [...]."""
    inner = jnp.sum(HARTMANN_A * (x[..., None, :] - HARTMANN_P) ** 2, axis=-1)
    return -jnp.sum(HARTMANN_ALPHA * jnp.exp(-inner), axis=-1)


def box_space(low, high):
    """A SearchSpace over a struct of scalar fields x0, x1, ... (Uniform dims)."""
    names = [f"x{i}" for i in range(len(low))]
    point = struct.dataclass(
        type("Point", (), {"__annotations__": dict.fromkeys(names, jax.Array)})
    )
    triples = list(zip(names, low, high, strict=True))
    base = point(**{n: jnp.float32((lo + hi) / 2) for n, lo, hi in triples})
    dims = {n: Uniform(lo, hi) for n, lo, hi in triples}
    return SearchSpace(base, **dims)


def on_hparams(function):
    """Lift f(x: [..., dim]) to hparams with fields x0, x1, ... of shape [...]."""
    return lambda hparams: function(jnp.stack(jax.tree_util.tree_leaves(hparams), -1))


PROBLEMS = {
    "branin": (branin, ((-5.0, 0.0), (10.0, 15.0)), 0.397887, 1e-2),
    "hartmann6": (hartmann6, ((0.0,) * 6, (1.0,) * 6), -3.32237, 5e-2),
}


def run_bayes(search, objective, key, num_rounds):
    """Best -f found after num_rounds ask/tell rounds; key: one seed -> []."""
    meta = search.default_meta_params()
    state = search.init(key, meta)

    def round_(state, key):
        key_ask, key_tell = jax.random.split(key)
        x, state = search.ask(key_ask, state, meta)
        state, metrics = search.tell(key_tell, x, -objective(x), state, meta)
        return state, metrics["meta/best_score"]

    return jax.lax.scan(round_, state, jax.random.split(key, num_rounds))[1][-1]


def run_random(space, objective, key, budget):
    return jnp.max(-objective(space.to_hparams(space.sample(key, budget))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=int, default=60)
    parser.add_argument("--batch", type=int, default=5)
    parser.add_argument("--initial", type=int, default=10)
    parser.add_argument("--acquisition", default="ei")
    parser.add_argument("--problems", default="branin,hartmann6")
    args = parser.parse_args()
    if args.budget % args.batch or args.initial % args.batch:
        raise ValueError("budget and initial must be multiples of batch")
    keys = jax.random.split(jax.random.key(0), args.seeds)
    print(
        f"budget {args.budget} evaluations, batch q={args.batch}, "
        f"{args.initial} initial (Latin hypercube), acquisition {args.acquisition}, "
        f"{args.seeds} seeds, backend {jax.default_backend()}\n"
    )
    print("| problem | method | median regret | 25% | 75% | hit target | seconds |")
    print("|---|---|---|---|---|---|---|")
    for name in args.problems.split(","):
        function, (low, high), optimum, target = PROBLEMS[name]
        space, objective = box_space(low, high), on_hparams(function)
        search = BayesSearch(
            space, args.batch, acquisition=args.acquisition,
            max_observations=args.budget, num_initial=args.initial,
        )  # fmt: skip
        methods = {
            "bayes": jax.jit(
                jax.vmap(
                    lambda k, s=search, f=objective: run_bayes(
                        s, f, k, args.budget // args.batch
                    )
                )
            ),
            "random": jax.jit(
                jax.vmap(
                    lambda k, s=space, f=objective: run_random(s, f, k, args.budget)
                )
            ),
        }
        for method, fn in methods.items():
            start = time.perf_counter()
            best = np.asarray(jax.block_until_ready(fn(keys)))
            seconds = time.perf_counter() - start
            regret = -best - optimum
            q25, q50, q75 = np.percentile(regret, [25, 50, 75])
            hits = int(np.sum(regret <= target))
            print(
                f"| {name} | {method} | {q50:.2e} | {q25:.2e} | {q75:.2e} | "
                f"{hits}/{args.seeds} (<= {target:g}) | {seconds:.1f} |"
            )


if __name__ == "__main__":
    main()
