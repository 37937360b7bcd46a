"""DIAYN (Eysenbach et al. 2018): skills without reward on Point2D-v0 and
LunarLanderContinuous-v3 with 10 and 20 skills, 5 seeds each; the
discriminator's accuracy over training, each skill's mean-action path, the
number of distinguishable skills; then SAC on Point2D's sparse goal reward
from the best of the 10 skills vs from scratch.

    python experiments/diayn.py            # --quick: 38,400 env steps a run
    python experiments/diayn.py --full     # 10 seeds, 10x the env steps
    jaxmeta run diayn / jaxmeta run diayn-full   # the same

Writes runs/diayn-N/: table.md, accuracy.csv, skills.csv, downstream.csv,
diayn_accuracy.png, diayn_skills.png, diayn_downstream.png.
docs/hierarchical.md discusses the results.
"""

import sys


def quick() -> dict:
    """5 seeds, 2,400 updates of 16 env steps (38,400 steps) per DIAYN run;
    1,000 downstream updates (16,000 steps)."""
    return {"name": "diayn", "seeds": 5, "updates": 2400, "chunks": 12,
            "downstream_updates": 1000, "downstream_chunks": 10, "seed": 0}  # fmt: skip


def full() -> dict:
    """10 seeds, 24,000 updates (384,000 env steps) per DIAYN run, the
    paper's 300-unit networks, 50,000 downstream env steps (accelerator)."""
    return {"name": "diayn-full", "seeds": 10, "updates": 24000, "chunks": 48,
            "learner_config": {"hidden": [300, 300],
                               "discriminator_hidden": [300, 300],
                               "batch_size": 128, "learning_starts": 1000,
                               "buffer_capacity": 1_000_000},
            "downstream_updates": 3125, "downstream_chunks": 25,
            "seed": 0}  # fmt: skip


if __name__ == "__main__":
    from jaxmeta.cli import main

    args = sys.argv[1:]
    name = "diayn-full" if "--full" in args else "diayn"
    args = [a for a in args if a not in ("--full", "--quick")]
    sys.exit(main(["run", name, *args]))
