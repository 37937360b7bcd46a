"""The `jaxmeta` command.

    jaxmeta list                          experiments, learners, searchers, envs
    jaxmeta run NAME [--set k=v ...]      a named experiment
    jaxmeta tune CONFIG.toml [--set ...]  your own tuning run
    jaxmeta resume RUN_DIR [--set ...]    continue a run from its checkpoint

Bad input prints one line, `jaxmeta: error: ...`, and exits with status 2.
"""

import argparse
import sys


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, status 2, as for every other error
        raise _UsageError(f"{self.prog}: {message}")


class _UsageError(Exception):
    pass


def _cmd_list(_args) -> int:
    from jaxmeta.envs import registered_names as env_names
    from jaxmeta.learners import LEARNERS
    from jaxmeta.run.catalog import EXPERIMENTS, KINDS
    from jaxmeta.search import registered_names as searcher_names
    from jaxmeta.search.successive_halving import METHODS

    print("experiments (jaxmeta run NAME):")
    width = max(len(n) for n in EXPERIMENTS)
    for name, (kind, _, description) in sorted(EXPERIMENTS.items()):
        print(f"  {name:<{width}}  [{kind}] {description}")
    print(f"experiment kinds (config files): {', '.join(sorted(KINDS))}")
    print(f"learners: {', '.join(sorted(LEARNERS))}")
    print(f"searchers: {', '.join(searcher_names())}")
    print(f"multi-fidelity searchers (tune): {', '.join(METHODS)}")
    print(f"envs: {', '.join(env_names())}")
    return 0


def _print_result(experiment, run_dir, rows, top: int) -> None:
    summary = getattr(experiment, "summary", None)
    if summary is not None and isinstance(rows, list) and rows:
        print("\n" + summary(rows, top))
    print(f"\nresults in {run_dir}")


def _start(kind: str, values: dict, args):
    """Check everything (before anything compiles); return the run to start."""
    import dataclasses

    from jaxmeta.run.catalog import build, start_run

    if args.seed is not None:
        values = {**values, "seed": args.seed}
    experiment, options = build(kind, values, args.set)
    if args.quiet:
        options = dataclasses.replace(options, quiet=True)

    def go() -> int:
        run_dir, rows = start_run(experiment, args.out, options)
        _print_result(experiment, run_dir, rows, args.top)
        return 0

    return go


def _cmd_run(args):
    from jaxmeta.run.catalog import get_experiment

    kind, values = get_experiment(args.name)
    return _start(kind, values, args)


def _cmd_tune(args):
    from jaxmeta.run.config import load_config_file

    return _start("tune", load_config_file(args.config), args)


def _cmd_pbt(args):
    from jaxmeta.run.config import load_config_file

    return _start("pbt", load_config_file(args.config), args)


def _cmd_resume(args):
    from jaxmeta.run.catalog import prepare_resume

    experiment, resume = prepare_resume(
        args.run_dir, args.set, True if args.quiet else None
    )

    def go() -> int:
        run_dir, rows = resume()
        _print_result(experiment, run_dir, rows, args.top)
        return 0

    return go


def _common(parser, out=True) -> None:
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field (dotted for tables: learner_config.num_envs=8, "
        "run.checkpoint_every=1); repeatable",
    )
    if out:
        parser.add_argument("--out", default="runs", help="root of run directories")
        parser.add_argument("--seed", type=int, default=None, help="random seed")
    parser.add_argument("--top", type=int, default=5, help="rows in the best table")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--coordinator",
        metavar="HOST:PORT",
        help="multi-host: address of process 0 (see docs/scaling.md)",
    )
    parser.add_argument("--num-processes", type=int, help="multi-host: process count")
    parser.add_argument("--process-id", type=int, help="multi-host: this process")


def build_parser() -> argparse.ArgumentParser:
    from jaxmeta.run.tune_config import help_text

    parser = _Parser(
        prog="jaxmeta",
        description="Tune and meta-learn RL agents in one compiled JAX program.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="experiments, learners, searchers and envs")
    run = sub.add_parser("run", help="run a named experiment (see `jaxmeta list`)")
    run.add_argument("name", help="experiment name, e.g. quickstart")
    _common(run)
    tune = sub.add_parser(
        "tune",
        help="tune from a TOML config file",
        description="Tune a learner's hyperparameters from a TOML config file "
        "(see experiments/quickstart.toml). Run options go in a [run] table "
        "or --set run.FIELD=VALUE: checkpoint_seconds (60), checkpoint_every "
        "(0 = by time), keep_checkpoints (3), tensorboard (true), quiet (false).",
        epilog=help_text(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tune.add_argument("config", help="a TOML config file")
    _common(tune)
    from jaxmeta.run.pbt import PBTConfig

    pbt = sub.add_parser(
        "pbt",
        help="population-based training from a TOML config file",
        description="Population-based training of a learner, every member in "
        "one compiled program (see experiments/pbt_cartpole.toml). chunk_size "
        "is the ready interval. Run options as for `jaxmeta tune`.",
        epilog=help_text(PBTConfig),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pbt.add_argument("config", help="a TOML config file")
    _common(pbt)
    resume = sub.add_parser("resume", help="continue a run from its last checkpoint")
    resume.add_argument("run_dir", help="the run directory, e.g. runs/quickstart-0")
    _common(resume, out=False)
    return parser


def _initialize_distributed_first(argv) -> None:
    """`jax.distributed.initialize` must run before anything touches the XLA
    backend, which importing the experiment code does: read the multi-host
    flags before building the full parser."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--coordinator")
    pre.add_argument("--num-processes", type=int)
    pre.add_argument("--process-id", type=int)
    known, _ = pre.parse_known_args(argv)
    if known.coordinator is not None:
        from jaxmeta.run.sharding import initialize_distributed

        initialize_distributed(known.coordinator, known.num_processes, known.process_id)


def _fail(err) -> int:
    message = " ".join(str(err).split())
    print(f"jaxmeta: error: {message}", file=sys.stderr)
    return 2


def main(argv=None) -> int:
    """Bad input (a usage error, a ValueError or TypeError while the run is
    checked, a ValueError while it runs, such as an unreadable checkpoint)
    prints one line and returns 2."""
    try:
        _initialize_distributed_first(sys.argv[1:] if argv is None else argv)
        args = build_parser().parse_args(argv)
        if args.command == "list":
            return _cmd_list(args)
        commands = {"run": _cmd_run, "tune": _cmd_tune, "pbt": _cmd_pbt,
                    "resume": _cmd_resume}  # fmt: skip
        go = commands[args.command](args)
    except (_UsageError, ValueError, TypeError) as err:
        return _fail(err)
    try:
        return go()
    except ValueError as err:
        return _fail(err)


if __name__ == "__main__":
    sys.exit(main())
