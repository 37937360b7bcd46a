"""MAXQ-Q against flat Q-learning on Taxi-v3 (Dietterich 2000): 30 trials
of MAXQ-Q with all-states updating, MAXQ-Q updating only the state each
child started in (the paper's MAXQ-0 rule), and flat Q-learning, at one
learning rate (0.25), gamma 1 and epsilon-greedy 0.1; after every chunk
each agent's greedy policy is run from all 300 start states and compared
with the optimal values of value iteration.

    python experiments/maxq.py            # --quick: 30 trials x 150k env steps
    python experiments/maxq.py --full     # 100 trials x 750k env steps
    jaxmeta run maxq / jaxmeta run maxq-full   # the same

Writes runs/maxq-N/: table.md, results.csv, curves.csv, maxq_taxi.png.
docs/hierarchical.md discusses the results.
"""

import sys


def quick() -> dict:
    """30 trials, 150 updates of 1,000 env steps, a greedy evaluation every
    10 updates."""
    return {"name": "maxq", "trials": 30, "updates": 150, "num_steps": 1000,
            "chunks": 15, "seed": 0}  # fmt: skip


def full() -> dict:
    """100 trials, 750 updates of 1,000 env steps (flat Q-learning's
    convergence on Taxi takes a few hundred thousand steps)."""
    return {"name": "maxq-full", "trials": 100, "updates": 750, "num_steps": 1000,
            "chunks": 75, "seed": 0}  # fmt: skip


if __name__ == "__main__":
    from jaxmeta.cli import main

    args = sys.argv[1:]
    name = "maxq-full" if "--full" in args else "maxq"
    args = [a for a in args if a not in ("--full", "--quick")]
    sys.exit(main(["run", name, *args]))
