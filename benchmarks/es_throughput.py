"""ES throughput: jaxmeta's ES against a plain evosax loop; what BiERL's
meta-training and PBT's exploit/explore step cost on top.

1. ES. One generation = `population` perturbations, one episode each of at
   most `--episode-steps` steps (a masked, fixed-length scan), an Adam step on
   the mean. jaxmeta: `jax.jit(train)` of `learners.es.ES` (one `lax.scan`
   over generations; no observation normalisation, no weight decay, to match
   the peer). evosax: benchmarks/_es_peer.py, `Open_ES` ask -> vmapped
   episode -> tell, the generation jitted and scanned over generations in one
   program (evosax's ask/tell pattern with its Python loop as a scan). Same
   64x64 tanh MLP, population, sigma 0.02, Adam 0.01, antithetic noise,
   centred ranks. Env steps are counted identically on both sides as the full
   fixed budget, population x episode steps per generation (what the masked
   scan simulates); jaxmeta also plays the unperturbed mean's episode every
   generation, uncounted. Goal: jaxmeta/evosax >= 1.0x.
2. BiERL (`control.bierl.BiERL` around the same ES at its defaults, the
   LSTM controller over the population's returns, fitness population 10,
   truncation 1) against plain ES at the same population: wall time per
   inner generation, meta-training included. Goal <= 2.5x. The work ratio
   (episodes BiERL plays per inner generation / ES's) is printed beside it.
3. PBT. A chunk of `--pbt-interval` updates of `--pbt-members` PPO members on
   CartPole-v1 (members' hparams drawn in the search space): `PBTLearner`
   (exploit/explore in-graph, computed and masked at every update) against
   its own loop without PBT (a scan of the vmapped update), and `PBT.pop_act`
   jitted alone (as run/pbt.py calls it once per chunk) against the run
   layer's chunk, `vmap(train_from)`. Goal: PBT costs <= 2 % of the chunk.

Every program is compiled ahead of time and run once before timing; the
sides of a table are then run `--repeats` times interleaved (the order
rotates), each call ended by `jax.block_until_ready`. Reported: the median
and the min - max over repeats; ratios are of medians. Writes every timing
to `--csv` as well.

    python benchmarks/es_throughput.py            # populations 64, 256, 1024
    python benchmarks/es_throughput.py --quick    # small smoke run
"""

import argparse
import csv
import functools
import os
import time

import jax
import numpy as np
from _es_peer import evosax_train

from jaxmeta.control.bierl import BiERL
from jaxmeta.control.lstm import BiERLController
from jaxmeta.control.pbt import PBT, PBTLearner
from jaxmeta.envs import make
from jaxmeta.learners import PPO, hparams_with, train, train_from
from jaxmeta.learners.es import ES
from jaxmeta.search import LogUniform, SearchSpace, Uniform

ENVS = ("brax-halfcheetah", "LunarLanderContinuous-v3")
ROWS = []  # every timing, for the CSV


def compiled(fn, *args):
    """`(compiled fn, compile seconds)`; args must already fix the statics."""
    start = time.perf_counter()
    out = fn.lower(*args).compile()
    return out, time.perf_counter() - start


def interleaved(sides, repeats):
    """Time zero-argument callables after one warm-up call each, `repeats`
    rounds in rotating order. Returns name -> (wall [repeats], cpu [repeats])."""
    for run in sides.values():
        jax.block_until_ready(run())
    names, times = list(sides), {name: ([], []) for name in sides}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            wall, cpu = time.perf_counter(), time.process_time()
            jax.block_until_ready(sides[name]())
            times[name][0].append(time.perf_counter() - wall)
            times[name][1].append(time.process_time() - cpu)
    return {k: (np.asarray(w), np.asarray(c)) for k, (w, c) in times.items()}


def record(table, config, side, wall, cpu, work, compile_s):
    ROWS.append({
        "table": table, "config": config, "side": side, "work": work,
        "median_s": np.median(wall), "min_s": wall.min(), "max_s": wall.max(),
        "median_cpu_s": np.median(cpu), "compile_s": compile_s,
    })  # fmt: skip
    return float(np.median(wall))


def spread(work, wall):
    """'median (min - max)' of work / seconds."""
    rates = work / wall
    return f"{np.median(rates):,.0f} ({rates.min():,.0f} - {rates.max():,.0f})"


def es_learner(env, population, steps, **config):
    return ES(env, population_size=population, max_episode_steps=steps, **config)


def es_table(args):
    envs = {name: make(name) for name in args.envs}  # brax prints on import
    print(
        f"\n### 1. ES generations/s: jaxmeta vs evosax Open_ES "
        f"({args.generations} generations per call, {args.episode_steps} steps "
        f"per episode, env steps = population x episode steps; goal >= 1.0x)\n"
    )
    print(
        "| env | population | jaxmeta gen/s | evosax gen/s | jaxmeta env steps/s "
        "(min - max) | evosax env steps/s (min - max) | ratio | compile s "
        "(jaxmeta / evosax) | goal met |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, (env, env_params) in envs.items():
        for pop in args.populations:
            es_row(args, name, env, env_params, pop)


def es_row(args, name, env, env_params, pop):
    key, gens, steps = jax.random.key(args.seed), args.generations, args.episode_steps
    learner = es_learner(env, pop, steps, normalize_obs=False)
    hparams = hparams_with(learner.default_hparams(), weight_decay=0.0)
    ours, ours_c = compiled(
        jax.jit(train, static_argnums=(0, 4)), learner, key, hparams, env_params, gens
    )
    peer, peer_c = compiled(
        evosax_train(env, env_params, pop, steps, gens, 0.02, 0.01), key
    )
    sides = {
        "jaxmeta": lambda: ours(key, hparams, env_params),
        "evosax": lambda: peer(key),
    }
    times = interleaved(sides, args.repeats)
    config, work = f"{name} pop={pop}", gens * pop * steps
    t_ours = record("es", config, "jaxmeta", *times["jaxmeta"], work, ours_c)
    t_peer = record("es", config, "evosax", *times["evosax"], work, peer_c)
    ratio = t_peer / t_ours
    print(
        f"| {name} | {pop} | {gens / t_ours:.2f} | {gens / t_peer:.2f} "
        f"| {spread(work, times['jaxmeta'][0])} "
        f"| {spread(work, times['evosax'][0])} | {ratio:.2f}x "
        f"| {ours_c:.0f} / {peer_c:.0f} | {'yes' if ratio >= 1.0 else 'no'} |",
        flush=True,
    )


def bierl_table(args):
    pop, steps, every = args.bierl_population, args.episode_steps, args.meta_every
    meta = args.meta_population
    print(
        f"\n### 2. BiERL vs ES: seconds per inner generation, meta-training "
        f"included ({args.bierl_env}, population {pop}, {steps} steps, "
        f"meta-population {meta}, meta step every {every} generations, fitness "
        f"population 10, truncation 1; goal <= 2.5x)\n"
    )
    env, env_params = make(args.bierl_env)
    learner = es_learner(env, pop, steps)
    controller = BiERLController(num_features=pop)
    bierl = BiERL(learner, controller, meta_population=meta, meta_every=every)
    key, fn = jax.random.key(args.seed), jax.jit(train, static_argnums=(0, 4))
    es_hparams, bierl_hparams = learner.default_hparams(), bierl.default_hparams()
    ours, es_c = compiled(fn, learner, key, es_hparams, env_params, every)
    meta_run, bierl_c = compiled(fn, bierl, key, bierl_hparams, env_params, 1)
    times = interleaved(
        {
            "es": lambda: ours(key, es_hparams, env_params),
            "bierl": lambda: meta_run(key, bierl_hparams, env_params),
        },
        args.repeats,
    )
    config = f"{args.bierl_env} pop={pop} meta={meta}x{every}"
    t_es = record("bierl", config, "es", *times["es"], every, es_c) / every
    t_bierl = record("bierl", config, "bierl", *times["bierl"], every, bierl_c) / every
    inner = every * (pop + 1)
    work = (inner + meta * (bierl.fitness_population + 1)) / inner
    ratio = t_bierl / t_es
    print(
        "| population | ES s/gen (min - max) | BiERL s/gen (min - max) | ratio "
        "| work ratio | compile s (ES / BiERL) | goal met |"
    )
    print("|---|---|---|---|---|---|---|")
    es_w, bierl_w = times["es"][0] / every, times["bierl"][0] / every
    print(
        f"| {pop} | {t_es:.3f} ({es_w.min():.3f} - {es_w.max():.3f}) "
        f"| {t_bierl:.3f} ({bierl_w.min():.3f} - {bierl_w.max():.3f}) "
        f"| {ratio:.2f}x | {work:.2f}x | {es_c:.0f} / {bierl_c:.0f} "
        f"| {'yes' if ratio <= 2.5 else 'no'} |",
        flush=True,
    )


def pbt_table(args):
    members, interval = args.pbt_members, args.pbt_interval
    env, env_params = make("CartPole-v1")
    ppo = PPO(env, num_envs=args.ppo_envs, num_steps=64, num_minibatches=4)
    space = SearchSpace(
        ppo.default_hparams(),
        learning_rate=LogUniform(1e-4, 3e-2),
        clip_eps=Uniform(0.1, 0.3),
        ent_coef=LogUniform(1e-4, 3e-2),
    )
    pbt = PBTLearner(ppo, PBT(space, members), interval)
    print(
        f"\n### 3. PBT's exploit/explore vs a chunk of {interval} updates of "
        f"{members} PPO members (CartPole-v1, {args.ppo_envs} envs x 64 steps, "
        f"4 epochs x 4 minibatches; goal <= 2 %)\n"
    )
    key, hparams = jax.random.key(args.seed), ppo.default_hparams()
    state = jax.jit(pbt.init)(key, hparams, env_params)
    keys, members_args = jax.random.split(key, members), (state.members, state.hparams)
    signals = {"fitness": jax.random.normal(key, (members,))}

    def bare_chunk(keys, states, members_hparams, env_params):
        return jax.vmap(train_from, in_axes=(None, 0, 0, 0, None, None))(
            ppo, keys, states, members_hparams, env_params, interval
        )

    def scan_chunk(key, states, members_hparams, env_params):
        """PBTLearner's own loop (scan of the vmapped update), without PBT."""

        def body(states, key):
            keys = jax.random.split(key, members)
            update = jax.vmap(ppo.update, in_axes=(0, 0, 0, None))
            return update(keys, states, members_hparams, env_params)

        return jax.lax.scan(body, states, jax.random.split(key, interval))

    def pbt_chunk(key, state, hparams, env_params):
        return train_from(pbt, key, state, hparams, env_params, interval)

    run_layer, learner_loop = "vmap(train_from) chunk", "scan(vmap(update)) chunk"
    programs = {  # name: (function, inputs, the side its cost is relative to)
        run_layer: (bare_chunk, (keys, *members_args, env_params), None),
        learner_loop: (scan_chunk, (key, *members_args, env_params), None),
        "PBTLearner chunk (PBT in-graph)": (
            pbt_chunk,
            (key, state, hparams, env_params),
            learner_loop,
        ),
        "PBT.pop_act alone": (
            pbt.pbt.pop_act,
            (key, state.pbt, *members_args, signals),
            run_layer,
        ),
    }
    sides, compile_s = {}, {}
    for name, (fn, inputs, _) in programs.items():
        program, compile_s[name] = compiled(jax.jit(fn), *inputs)
        sides[name] = functools.partial(program, *inputs)
    times = interleaved(sides, args.repeats)
    config = f"pop={members} interval={interval}"
    work = interval * members * ppo.steps_per_update
    print("| what | seconds (min - max) | PBT's cost (wall / CPU) | vs | goal met |")
    print("|---|---|---|---|---|")
    for name, (wall, cpu) in times.items():
        median = record("pbt", config, name, wall, cpu, work, compile_s[name])
        base = programs[name][2]
        if base is None:
            cost, vs, met = "-", "-", "-"
        else:
            # A PBTLearner chunk pays PBT on top of its loop; pop_act is all PBT.
            extra = 1.0 if base == learner_loop else 0.0
            pairs = zip(times[name], times[base], strict=True)
            ratios = [np.median(x) / np.median(y) - extra for x, y in pairs]
            cost, vs = f"{ratios[0]:.2%} / {ratios[1]:.2%}", base
            met = "yes" if ratios[0] <= 0.02 else "no"
        print(
            f"| {name} | {median:.4f} ({wall.min():.4f} - {wall.max():.4f}) "
            f"| {cost} | {vs} | {met} |",
            flush=True,
        )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=list(ENVS))
    parser.add_argument("--populations", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--episode-steps", type=int, default=1000)
    parser.add_argument("--generations", type=int, default=2, help="per timed call")
    parser.add_argument("--bierl-env", default="brax-halfcheetah")
    parser.add_argument("--bierl-population", type=int, default=200)
    parser.add_argument("--meta-population", type=int, default=200)
    parser.add_argument("--meta-every", type=int, default=10)
    parser.add_argument("--pbt-members", type=int, default=64)
    parser.add_argument("--pbt-interval", type=int, default=10)
    parser.add_argument("--ppo-envs", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tables", nargs="+", default=["es", "bierl", "pbt"],
                        choices=["es", "bierl", "pbt"])  # fmt: skip
    parser.add_argument("--csv", default="runs/benchmarks/es_throughput.csv")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: population 16, 50-step episodes, BiERL on LunarLander "
        "(16 x 5 meta), 8 PBT members with 4 envs",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.populations, args.episode_steps, args.generations = [16], 50, 2
        args.bierl_env, args.bierl_population = "LunarLanderContinuous-v3", 16
        args.meta_population, args.meta_every = 16, 5
        args.pbt_members, args.ppo_envs = 8, 4
    if min(args.populations + [args.bierl_population]) < 2 or any(
        p % 2 for p in args.populations + [args.bierl_population]
    ):
        parser.error("populations must be even and >= 2 (antithetic pairs)")
    return args


def main(argv=None):
    args = parse_args(argv)
    print(f"jax {jax.__version__}, {jax.devices()[0].platform}, "
          f"{os.cpu_count()} CPUs, {args.repeats} interleaved repeats")  # fmt: skip
    tables = {"es": es_table, "bierl": bierl_table, "pbt": pbt_table}
    for name in args.tables:
        tables[name](args)
    os.makedirs(os.path.dirname(args.csv) or ".", exist_ok=True)
    with open(args.csv, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(ROWS[0]))
        writer.writeheader()
        writer.writerows(ROWS)
    print(f"\nwrote {args.csv}")


if __name__ == "__main__":
    main()
