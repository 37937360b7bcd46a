"""Option-critic's Four Rooms transfer experiment (Bacon, Harb and Precup
2017, Figures 2 and 3): option-critic with 4 options against the
primitive actor-critic AC-PG (option-critic with one option) and
SARSA(0), all tabular and online. Moves fail with probability 1/3,
gamma = 0.99, starts are uniform, the goal starts in the east hallway
and moves, after each trial's 1000th episode, to a random cell of the
lower-right room. Steps per episode over 2000 episodes, mean and 95 %
CI over trials; termination-probability maps of the learned options.

    python experiments/option_critic.py           # --quick: 30 trials, CPU
    python experiments/option_critic.py --full    # the paper's 100 runs
    jaxmeta run option-critic / jaxmeta run option-critic-full
    jaxmeta run option-critic --set trials=10     # any top-level field

Writes runs/option-critic-N/: table.md, results.csv, curves.csv,
progress.csv, curves.png, terminations.png. docs/hierarchical.md
discusses the results against the paper's claims.
"""

import sys


def quick() -> dict:
    """CPU mode: 30 trials per method, the paper's 2000 episodes (up to
    500,000 env steps each; a trial that has not finished them by then is
    counted in the table)."""
    return {
        "name": "option-critic",
        "trials": 30,
        "episodes": 2000,
        "switch_after": 1000,
        "env_steps": 500_000,
        "chunks": 10,
        "seed": 0,
    }


def full() -> dict:
    """The paper's 100 runs of 2000 episodes, a larger step budget."""
    return {
        "name": "option-critic-full",
        "trials": 100,
        "episodes": 2000,
        "switch_after": 1000,
        "env_steps": 800_000,
        "chunks": 20,
        "seed": 0,
    }


if __name__ == "__main__":
    from jaxmeta.cli import main

    args = sys.argv[1:]
    name = "option-critic-full" if "--full" in args else "option-critic"
    args = [a for a in args if a not in ("--full", "--quick")]
    sys.exit(main(["run", name, *args]))
