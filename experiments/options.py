"""Options in Four Rooms (seeds/001; Sutton, Precup and Singh 1999): flat
Q-learning against SMDP Q-learning with the eight hallway options (alone,
and with the primitive actions as one-step options) and one-step
intra-option Q-learning (the same two option sets), on the east hallway
goal (7, 9) and on the room cell (10, 10), which no hallway option leads
to. Each method runs `trials` independent agents for each learning rate,
vmapped; each is scored by the episodes it needs until its running mean
steps per episode come within 10 % of the optimum (exact value
iteration), and each method keeps its best learning rate.

    python experiments/options.py            # --quick: the CPU mode
    python experiments/options.py --full     # 100 trials, 4 rates, longer
    jaxmeta run options / jaxmeta run options-full      # the same
    jaxmeta run options --set trials=10      # any top-level field

Writes runs/options-N/: table.md, results.csv, curves.csv, progress.csv,
optimal.json, curves_7_9.png, curves_10_10.png. docs/hierarchical.md
discusses the results against the seed's 3-5x claim.
"""

import sys


def quick() -> dict:
    """CPU mode (a few minutes on 2 cores): 30 trials x 2 learning rates
    per method and goal, 80,000 env steps and up to 1,000 episodes each."""
    return {
        "name": "options",
        "trials": 30,
        "learning_rates": [0.25, 0.5],
        "episodes": 1_000,
        "env_steps": 80_000,
        "chunks": 8,
        "seed": 0,
    }


def full() -> dict:
    """100 trials x 4 learning rates (the nearest powers of 2 from 1/8 to
    1), 300,000 env steps and up to 3,000 episodes each."""
    return {
        "name": "options-full",
        "trials": 100,
        "learning_rates": [0.125, 0.25, 0.5, 1.0],
        "episodes": 3_000,
        "env_steps": 300_000,
        "chunks": 20,
        "seed": 0,
    }


if __name__ == "__main__":
    from jaxmeta.cli import main

    args = sys.argv[1:]
    name = "options-full" if "--full" in args else "options"
    args = [a for a in args if a not in ("--full", "--quick")]
    sys.exit(main(["run", name, *args]))
