"""FeUdal networks (Vezhnevets et al. 2017) against a flat LSTM
actor-critic (the same A2C update) and FuN without its intrinsic reward
(alpha = 0) on KeyDoor, a two-room gridworld whose goal is behind a locked
door (a long horizon, one sparse reward); 5 seeds per method, vmapped.

    python experiments/feudal.py            # --quick: 9x15 KeyDoor, ~8 min here
    python experiments/feudal.py --full     # 11x19 KeyDoor, 10x the env steps
    jaxmeta run feudal / jaxmeta run feudal-full   # the same

Writes runs/feudal-N/: table.md, results.csv, curves.csv,
feudal_keydoor.png. docs/hierarchical.md discusses the results.
"""

import sys


def quick() -> dict:
    """5 seeds, 9x15 KeyDoor (400-step episodes), 16 envs x 40 steps an
    update, 600 updates (384k env steps per agent), 20 chunks; FuN at alpha
    0.5 and 0.05 besides alpha 0."""
    return {"name": "feudal", "env": "KeyDoor-v0", "seeds": 5, "updates": 600,
            "chunks": 20, "learner_config": {"num_envs": 16, "num_steps": 40},
            "alphas": [0.5, 0.05], "seed": 0}  # fmt: skip


def full() -> dict:
    """10 seeds, 11x19 KeyDoor (500-step episodes), 3,000 updates (1.9M env
    steps per agent), the paper's d = 256 latent space and k = 16."""
    return {"name": "feudal-full", "env": "KeyDoor-v0",
            "env_config": {"height": 11, "width": 19, "max_steps_in_episode": 500},
            "seeds": 10, "updates": 3000, "chunks": 30,
            "learner_config": {"num_envs": 16, "num_steps": 40},
            "fun_config": {"goal_dim": 256, "hidden": [256], "worker_hidden": 256},
            "flat_config": {"hidden": 256, "embed": [256]},
            "alphas": [0.5, 0.1, 0.01], "seed": 0}  # fmt: skip


if __name__ == "__main__":
    from jaxmeta.cli import main

    args = sys.argv[1:]
    name = "feudal-full" if "--full" in args else "feudal"
    args = [a for a in args if a not in ("--full", "--quick")]
    sys.exit(main(["run", name, *args]))
