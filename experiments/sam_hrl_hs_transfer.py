"""Generalisation (seeds/000's third metric): SAM-HRL-HS's manager and workers
meta-trained on searches over CartPole-v1 and MountainCar-v0 tasks (pole mass
and length, cart mass; engine force and gravity), then searching the unseen
Acrobot-v1 and LunarLander-v3: trials to target and the episodes to target
of the config found, against the same searcher from fresh networks, GP-BO
and random search at the same budget.

    python experiments/sam_hrl_hs_transfer.py           # --quick: CPU, 3 seeds
    python experiments/sam_hrl_hs_transfer.py --full    # 5 seeds, full budget
    jaxmeta run sam-hrl-hs-transfer / sam-hrl-hs-transfer-full   # the same

One learner for all four envs, so a hparam means the same everywhere and
the networks' unit-cube actions carry over: DQN with rl-zoo's MountainCar
recipe scaled to 4 envs x 8 steps per update (the seed-000 experiment's),
over its learning rate, discount, final epsilon and epsilon decay fraction.
Writes runs/sam-hrl-hs-transfer-N/: transfer.md, transfer.csv,
meta_training.csv/.png, and the test envs' table.md, results.csv,
trials.csv, best_so_far.png. docs/sam_hrl_hs.md discusses the results.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sam_hrl_hs import DQN_DIMS  # noqa: E402

DQN_CONFIG = {
    "num_envs": 4, "num_steps": 8, "gradient_steps": 4, "batch_size": 64,
    "buffer_capacity": 10_000, "learning_starts": 1_000,
    "target_update_every": 19, "n_step": 3, "normalize_obs": True,
}  # fmt: skip
STEPS_PER_UPDATE = 32  # 4 envs x 8 steps


def _tuning(env, bounds, eval_max_steps, population, rounds, updates) -> dict:
    """What a search over `env` tunes and at what budget."""
    return {
        "env": env,
        "learner": "dqn",
        "learner_config": {**DQN_CONFIG, "total_timesteps": updates * STEPS_PER_UPDATE},
        "dims": DQN_DIMS,
        "return_bounds": bounds,
        "eval_max_steps": eval_max_steps,
        "eval_deterministic": True,  # trials judged greedily, as the target is
        "population_size": population,
        "rounds": rounds,
        "num_updates": updates,
        "chunk_size": updates // 2,
    }


def _train_envs(*sizes) -> list[dict]:
    """CartPole with its task distribution's default ranges
    (`jaxmeta.envs.tasks`), MountainCar with engine forces from gymnax's
    0.001 up to 0.0025 (gravity 0.002-0.003): at the default force no trial
    of a quick search leaves -200, so those searches teach nothing; stronger
    engines reach the flag in fewer swings and spread the trials' returns."""
    return [
        {**_tuning("CartPole-v1", [0.0, 500.0], 500, *sizes), "tasks": {}},
        {
            **_tuning("MountainCar-v0", [-200.0, 0.0], 200, *sizes),
            "tasks": {"force": [0.001, 0.0025]},
        },
    ]


def _test_env(env, target, bounds, eval_max_steps, final_steps, sizes) -> dict:
    table = _tuning(env, bounds, eval_max_steps, *sizes)
    return {
        **table,
        "target": target,
        "final_learner_config": {"total_timesteps": final_steps},
        "final_env_steps": final_steps,
        "final_chunks": 4,
        "reference": {},  # no REINFORCE row: the searchers are compared
    }


def _experiment(name, meta_searches, seeds, sizes, tests) -> dict:
    """`sizes`: (configs, rounds, updates) of a training search; `tests`:
    per test env (sizes, final env steps)."""
    (acrobot, acrobot_final), (lander, lander_final) = tests
    return {
        "name": name,
        "train_envs": _train_envs(*sizes),
        "meta_searches": meta_searches,
        "test_envs": [
            _test_env("Acrobot-v1", -100.0, [-500.0, 0.0], 500, acrobot_final, acrobot),
            _test_env(
                "LunarLander-v3", 200.0, [-400.0, 300.0], 1000, lander_final, lander
            ),
        ],  # fmt: skip
        "seeds": seeds,
        "seed": 0,
    }


def quick() -> dict:
    """CPU mode: 8 meta-training searches (4 per env) of 8 configs x 3
    rounds x 400 updates (12,800 env steps each); then 3 seeds of each
    searcher per test env at 8 configs x 3 rounds: Acrobot 1,250 updates
    (40,000 env steps: rl-zoo's DQN reaches -77 at 1e5), LunarLander 400;
    final training 64k (Acrobot) and 102k (LunarLander) env steps."""
    tests = (((8, 3, 1_250), 64_000), ((8, 3, 400), 102_400))
    return _experiment("sam-hrl-hs-transfer", 8, 3, (8, 3, 400), tests)


def full() -> dict:
    """Full budget, 5 seeds: 20 meta-training searches; every search 16
    configs x 4 rounds, training searches and Acrobot at 3,750 updates
    (1.2e5 env steps, rl-zoo's MountainCar budget), LunarLander 16,000
    (5.1e5); final training 1e5 (Acrobot, rl-zoo's DQN budget) and 5e5
    (LunarLander) env steps."""
    tests = (((16, 4, 3_750), 102_400), ((16, 4, 16_000), 512_000))
    return _experiment("sam-hrl-hs-transfer-full", 20, 5, (16, 4, 3_750), tests)


if __name__ == "__main__":
    from jaxmeta.cli import main

    args = sys.argv[1:]
    name = "sam-hrl-hs-transfer-full" if "--full" in args else "sam-hrl-hs-transfer"
    args = [a for a in args if a not in ("--full", "--quick")]
    sys.exit(main(["run", name, *args]))
