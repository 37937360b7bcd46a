"""h-DQN on Kulkarni et al. (2016)'s stochastic decision process (Section
4.1): h-DQN (meta-controller over the six states as subgoals, controller
rewarded 1 on reaching its subgoal) against flat tabular Q-learning and
flat DQN, 30 trials of each vmapped, every epsilon 1 -> 0.1 over the
paper's 50,000 env steps. Curves: the mean extrinsic reward per training
episode (the paper's Figure 3) and the visits of s3..s6 per episode
(Figure 4), beside the paper's values (h-DQN about 0.13, Q-learning 0.01).

    python experiments/hdqn.py            # --quick: 30 trials x 60k env steps
    python experiments/hdqn.py --full     # 30 trials x 200k env steps
    jaxmeta run hdqn / jaxmeta run hdqn-full   # the same

Writes runs/hdqn-N/: table.md, results.csv, curves.csv, hdqn_chain.png.
docs/hierarchical.md discusses the results.
"""

import sys


def quick() -> dict:
    """CPU mode: 30 trials, 600 updates of 100 env steps (60,000 steps,
    the schedule's 50,000 and 10,000 at epsilon 0.1), an evaluation every
    2,000 steps."""
    return {"name": "hdqn", "trials": 30, "updates": 600, "num_steps": 100,
            "chunks": 30, "seed": 0}  # fmt: skip


def full() -> dict:
    """30 trials, 2,000 updates of 100 env steps: the paper's 200 epochs,
    read as 1,000 steps an epoch (its text does not say), with one TD step
    of each network per env step as in its Algorithm 1."""
    return {"name": "hdqn-full", "trials": 30, "updates": 2000, "num_steps": 100,
            "chunks": 100, "gradient_steps": 100, "seed": 0}  # fmt: skip


if __name__ == "__main__":
    from jaxmeta.cli import main

    args = sys.argv[1:]
    name = "hdqn-full" if "--full" in args else "hdqn"
    args = [a for a in args if a not in ("--full", "--quick")]
    sys.exit(main(["run", name, *args]))
