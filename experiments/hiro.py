"""HIRO (Nachum et al. 2018) against HIRO without its off-policy correction
and a flat TD3 on the point-mass U-maze (AntMaze's layout and protocol:
random goals in training, evaluated on the far goal behind the wall); 5
seeds per method, vmapped.

    python experiments/hiro.py            # --quick: 120k env steps per agent
    python experiments/hiro.py --full     # 10 seeds, 1M steps, a slower point
    python experiments/hiro.py --fixed-goal   # quick, the far goal in training
    python experiments/hiro.py --slow     # a slower point, 480k env steps
    python experiments/hiro.py --fixed-goal-long   # the far goal, 480k, 10 seeds
    jaxmeta run hiro / hiro-full / hiro-fixed-goal / hiro-slow /
        hiro-fixed-goal-long                       # the same

Writes runs/hiro-N/: table.md, results.csv, curves.csv, hiro_umaze.png.
docs/hierarchical.md discusses the results.
"""

import sys


def quick() -> dict:
    """5 seeds, 4 envs x 10 steps an update, 10 worker TD3 steps per update,
    64 x 64 networks, 3,000 updates (120k env steps per agent), 12 chunks,
    10 greedy evaluation episodes after each."""
    return {"name": "hiro", "env": "PointUMazeGoals-v0", "seeds": 5,
            "updates": 3000, "chunks": 12, "eval_episodes": 10,
            "learner_config": {"num_envs": 4, "num_steps": 10,
                               "gradient_steps": 10, "hidden": [64, 64],
                               "learning_starts": 1000}, "seed": 0}  # fmt: skip


def fixed_goal() -> dict:
    """As `quick` on `PointUMaze-v0`: the far goal in every training
    episode too, not in the observation (the deceptive task alone: no
    curriculum of nearer goals)."""
    return {**quick(), "name": "hiro-fixed-goal", "env": "PointUMaze-v0"}


def fixed_goal_long() -> dict:
    """As `fixed_goal` with 4x the updates (480k env steps per agent) and
    10 seeds: long enough for a hierarchy to leave the dead end."""
    return {**fixed_goal(), "name": "hiro-fixed-goal-long", "updates": 12000,
            "seeds": 10}  # fmt: skip


def slow() -> dict:
    """As `quick` with the full mode's slower point (max_speed 0.05,
    300-step episodes, goal_range 0.5) and 4x the updates (480k env steps
    per agent): a three times longer horizon in worker steps."""
    return {**quick(), "name": "hiro-slow", "updates": 12000,
            "env_config": {"max_speed": 0.05, "max_steps_in_episode": 300},
            "hiro_hparams": {"goal_range": 0.5}}  # fmt: skip


def full() -> dict:
    """10 seeds, the paper's 300 x 300 networks, one TD3 step per env step,
    a point three times slower in 300-step episodes (a longer horizon in
    worker steps, nearer AntMaze's 500; goal_range 0.5, the point's reach
    in c = 10 steps), 25,000 updates (1M env steps per
    agent), 50 evaluation episodes."""
    return {"name": "hiro-full", "env": "PointUMazeGoals-v0",
            "env_config": {"max_speed": 0.05, "max_steps_in_episode": 300},
            "seeds": 10, "updates": 25000, "chunks": 50, "eval_episodes": 50,
            "learner_config": {"num_envs": 4, "num_steps": 10,
                               "gradient_steps": 40, "hidden": [300, 300],
                               "learning_starts": 10000,
                               "buffer_capacity": 200000},
            "hiro_hparams": {"goal_range": 0.5}, "seed": 0}  # fmt: skip


if __name__ == "__main__":
    from jaxmeta.cli import main

    args = sys.argv[1:]
    name = "hiro-full" if "--full" in args else "hiro"
    name = "hiro-fixed-goal" if "--fixed-goal" in args else name
    name = "hiro-slow" if "--slow" in args else name
    name = "hiro-fixed-goal-long" if "--fixed-goal-long" in args else name
    flags = ("--full", "--quick", "--fixed-goal", "--slow", "--fixed-goal-long")
    args = [a for a in args if a not in flags]
    sys.exit(main(["run", name, *args]))
