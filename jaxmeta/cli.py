"""The `jaxmeta` command: `jaxmeta list`, `jaxmeta run NAME`."""

import argparse
import sys

from jaxmeta.run.catalog import EXPERIMENTS, get_experiment


def _cmd_list(_args) -> int:
    width = max(len(n) for n in EXPERIMENTS)
    for name, (_, description) in sorted(EXPERIMENTS.items()):
        print(f"{name:<{width}}  {description}")
    return 0


def _cmd_run(args) -> int:
    from jaxmeta.run.tune import best_rows, format_table, run_tune

    config = get_experiment(args.name)(seed=args.seed)
    run_dir, rows = run_tune(config, out_root=args.out, quiet=args.quiet)
    names = list(config.dims)
    print(f"\nbest configs of {config.name} (HyperScore in [100, 200]):")
    print(format_table(best_rows(rows, args.top), names))
    best = best_rows(rows, 1)[0]
    print(
        f"\nbest eval return {best['eval_return']:.1f} over "
        f"{config.eval_episodes} episodes; results in {run_dir}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxmeta",
        description="Tune and meta-learn RL agents in one compiled JAX program.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the experiments `jaxmeta run` can run")
    run = sub.add_parser("run", help="run a named experiment (see `jaxmeta list`)")
    run.add_argument("name", help="experiment name, e.g. quickstart")
    run.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    run.add_argument("--out", default="runs", help="root of run directories")
    run.add_argument("--top", type=int, default=5, help="rows in the best table")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "list":
            return _cmd_list(args)
        return _cmd_run(args)
    except ValueError as err:
        print(f"jaxmeta: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
