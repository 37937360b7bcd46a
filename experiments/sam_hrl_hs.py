"""Episodes to target (seeds/000's table): SAM-HRL-HS (HyperScore calibrated
online), SAM-HRL-HS with the fixed HyperScore, GP-BO, random search, CMA-ES
and successive halving tune the same learner at the same budget in env
steps (and MAML meta-trains PPO's initial weights over the env's tasks at
about that budget); the config each found trains on a fresh key, and the
episodes until the running mean over 100 training episodes reaches the
target (and the first update whose greedy evaluation over 32 episodes
does) are counted, beside the learner at its defaults, the learner at its
defaults from the MAML-meta-learned weights (the seed's MAML row; CartPole
and LunarLander, not MountainCar, whose DQN MAML cannot differentiate) and
REINFORCE at its defaults.

    python experiments/sam_hrl_hs.py           # --quick: the CPU mode (2 seeds)
    python experiments/sam_hrl_hs.py --full    # 5 seeds at the full budget
    jaxmeta run sam-hrl-hs / jaxmeta run sam-hrl-hs-full   # the same
    jaxmeta run sam-hrl-hs --set seeds=3       # any top-level field

Learners: PPO on CartPole-v1 (target 475) and LunarLander-v3 (200); DQN on
MountainCar-v0 (-110): its reward is -1 until the flag, so an on-policy
learner sees no signal until random actions reach it, which they rarely do
in 200 steps (rl-zoo's PPO needs 1e6 steps and normalisation there; its DQN
-101 at 1.2e5). Writes runs/sam-hrl-hs-N/: table.md, results.csv,
trials.csv, maml.csv, best_so_far.png. docs/sam_hrl_hs.md discusses the results.
"""

import sys

PPO_DIMS = {
    "learning_rate": {"kind": "log_uniform", "low": 1e-4, "high": 1e-2},
    "gamma": {"kind": "logit", "low": 0.95, "high": 0.999},
    "clip_eps": {"kind": "uniform", "low": 0.1, "high": 0.3},
    "ent_coef": {"kind": "log_uniform", "low": 1e-4, "high": 3e-2},
}
DQN_DIMS = {
    "learning_rate": {"kind": "log_uniform", "low": 3e-4, "high": 1e-2},
    "gamma": {"kind": "logit", "low": 0.95, "high": 0.995},
    "eps_end": {"kind": "uniform", "low": 0.01, "high": 0.2},
    "eps_decay_fraction": {"kind": "uniform", "low": 0.1, "high": 0.5},
}


def searchers(calibration_rounds: int) -> list[dict]:
    """The six searchers of issue 11's table."""
    return [
        {"label": "sam-hrl-hs", "searcher": "sam-hrl-hs", "calibrate_online": True,
         "calibration_rounds": calibration_rounds},
        {"label": "sam-hrl-hs-fixed", "searcher": "sam-hrl-hs"},
        {"label": "gp-bo", "searcher": "bayes"},
        {"label": "random", "searcher": "random"},
        {"label": "cma-es", "searcher": "evosax",
         "searcher_config": {"strategy": "CMA_ES"}},
        {"label": "successive-halving", "searcher": "successive-halving",
         "searcher_config": {"eta": 2}},
    ]  # fmt: skip


def _sizes(population, rounds, updates, final_steps, final_chunks) -> dict:
    """The tuning budget (configs x rounds x updates, two chunks a run) and
    the final training (env steps, greedy evaluations) of an env table."""
    return {
        "population_size": population,
        "rounds": rounds,
        "num_updates": updates,
        "chunk_size": updates // 2,
        "final_env_steps": final_steps,
        "final_chunks": final_chunks,
    }


def _ppo(env, target, num_steps, bounds, eval_max_steps, sizes) -> dict:
    """A PPO env table: 8 envs x `num_steps` per update."""
    return {
        "env": env,
        "target": target,
        "learner": "ppo",
        "learner_config": {"num_envs": 8, "num_steps": num_steps, "num_minibatches": 4},
        "dims": PPO_DIMS,
        "return_bounds": bounds,
        "eval_max_steps": eval_max_steps,
        **_sizes(*sizes),
    }


def with_maml(table: dict, meta_batch: int, episodes: int, horizon: int) -> dict:
    """`table` with the seed's MAML row: MAML meta-trains the table's PPO
    over the env's task distribution (one PPO update as the inner step at
    learning rate 0.01, Adam 0.01 outside, `meta_batch` tasks of `episodes`
    post-adaptation episodes of up to `horizon` steps), for as many
    meta-iterations (an even number, 2 chunks) as fit in one tuning run's
    env steps; the final run is PPO at its defaults from those weights."""
    per_update = (
        table["learner_config"]["num_envs"] * table["learner_config"]["num_steps"]
    )
    budget = table["population_size"] * table["rounds"] * table["num_updates"]
    per_iteration = meta_batch * (per_update + episodes * horizon)
    iterations = max(2, budget * per_update // per_iteration // 2 * 2)
    return {
        **table,
        "maml": {
            "meta_iterations": iterations, "chunks": 2,
            "adapter": {"meta_batch_size": meta_batch, "num_episodes": episodes,
                        "horizon": horizon},
            "hparams": {"outer_lr": 0.01},
            "learner_hparams": {"learning_rate": 0.01},
        },
    }  # fmt: skip


def cartpole(*sizes) -> dict:
    """PPO, 8 envs x 64 steps per update (512 env steps); `sizes` as `_sizes`."""
    return _ppo("CartPole-v1", 475.0, 64, [0.0, 500.0], 500, sizes)


def mountain_car(*sizes) -> dict:
    """DQN, rl-zoo's MountainCar recipe scaled to 4 envs x 8 steps per
    update and 4 gradient steps (3-step returns, normalised observations);
    epsilon decays over the tuning run's steps (final: its own)."""
    config = {
        "num_envs": 4, "num_steps": 8, "gradient_steps": 4, "batch_size": 64,
        "buffer_capacity": 10_000, "learning_starts": 1_000,
        "target_update_every": 19, "n_step": 3, "normalize_obs": True,
    }  # fmt: skip
    table = _sizes(*sizes)
    return {
        "env": "MountainCar-v0",
        "target": -110.0,
        "learner": "dqn",
        "learner_config": {**config, "total_timesteps": table["num_updates"] * 32},
        "final_learner_config": {"total_timesteps": table["final_env_steps"]},
        "dims": DQN_DIMS,
        "return_bounds": [-200.0, 0.0],
        "eval_max_steps": 200,
        **table,
    }


def lunar_lander(*sizes) -> dict:
    """PPO, 8 envs x 128 steps per update (1,024 env steps)."""
    return _ppo("LunarLander-v3", 200.0, 128, [-400.0, 300.0], 1000, sizes)


def _experiment(name, envs, calibration_rounds, seeds) -> dict:
    return {
        "name": name,
        "envs": envs,
        "searchers": searchers(calibration_rounds),
        "seeds": seeds,
        "seed": 0,
    }


def quick() -> dict:
    """CPU mode (under 15 minutes on 2 cores): 2 seeds, 4-8 configs x 2-3
    rounds of short runs; final training 2e5 (CartPole), 4e4 (MountainCar),
    1e5 (LunarLander) env steps; 3 GP-BO rounds per HyperScore refit."""
    envs = [
        with_maml(cartpole(8, 3, 20, 204_800, 8), 8, 8, 200),
        mountain_car(4, 2, 500, 40_960, 4),
        with_maml(lunar_lander(8, 2, 10, 102_400, 4), 4, 4, 500),
    ]
    return _experiment("sam-hrl-hs", envs, 3, 2)


def full() -> dict:
    """Full budget, 5 seeds: 16 configs x 4 rounds per run (CartPole 40
    updates = 2e4 env steps each, 1.3e6 per run; MountainCar 1.2e5 steps
    each; LunarLander 1e5 each), final training 2e5 / 1.2e5 / 1e6 env steps
    (rl-zoo's budgets where they reach the target)."""
    envs = [
        with_maml(cartpole(16, 4, 40, 204_800, 20), 20, 10, 500),
        mountain_car(16, 4, 3_750, 120_000, 20),
        with_maml(lunar_lander(16, 4, 100, 1_024_000, 20), 20, 10, 1000),
    ]
    return _experiment("sam-hrl-hs-full", envs, 12, 5)


if __name__ == "__main__":
    from jaxmeta.cli import main

    args = sys.argv[1:]
    name = "sam-hrl-hs-full" if "--full" in args else "sam-hrl-hs"
    args = [a for a in args if a not in ("--full", "--quick")]
    sys.exit(main(["run", name, *args]))
