"""The named experiments `jaxmeta run NAME` runs: each a kind (see
`catalog.KINDS`), a config factory and a one-line description. Most
factories live in the repository's experiments/*.py (one file per published
system), so `python experiments/X.py` and `jaxmeta run X` run the same dict.
"""


def quickstart() -> dict:
    """Tune PPO on CartPole-v1: 32 configs, two rounds of CMA-ES search
    (the same config as experiments/quickstart.toml)."""
    return {
        "name": "quickstart",
        "env": "CartPole-v1",
        "learner": "ppo",
        "learner_config": dict(
            num_envs=16, num_steps=64, num_epochs=4, num_minibatches=4
        ),
        "dims": {
            "learning_rate": {"kind": "log_uniform", "low": 3e-4, "high": 3e-2},
            "gamma": {"kind": "logit", "low": 0.95, "high": 0.999},
            "gae_lambda": {"kind": "logit", "low": 0.8, "high": 0.99},
            "clip_eps": {"kind": "uniform", "low": 0.1, "high": 0.3},
            "ent_coef": {"kind": "log_uniform", "low": 1e-4, "high": 3e-2},
        },
        "searcher": "evosax",
        "searcher_config": {"strategy": "CMA_ES"},
        "population_size": 32,
        "rounds": 2,
        "num_updates": 100,
        "chunk_size": 10,
        "eval_episodes": 32,
        "eval_max_steps": 500,
        "return_bounds": [0.0, 500.0],
        "seed": 0,
    }


def pbt_cartpole() -> dict:
    """PBT of 16 PPO members on CartPole-v1 (experiments/pbt_cartpole.toml)."""
    return {
        "name": "pbt-cartpole",
        "env": "CartPole-v1",
        "learner": "ppo",
        "learner_config": dict(
            num_envs=16, num_steps=64, num_epochs=4, num_minibatches=4
        ),
        "dims": {
            "learning_rate": {"kind": "log_uniform", "low": 1e-4, "high": 3e-2},
            "clip_eps": {"kind": "uniform", "low": 0.1, "high": 0.3},
            "ent_coef": {"kind": "log_uniform", "low": 1e-4, "high": 3e-2},
        },
        "population_size": 16,
        "num_updates": 100,
        "chunk_size": 10,
        "eval_episodes": 32,
        "eval_max_steps": 500,
        "quantile": 0.25,
        "resample_probability": 0.25,
        "perturb_factors": [0.8, 1.2],
        "seed": 0,
    }


def experiments_file(module: str, function: str):
    """A config factory defined in the repository's experiments/MODULE.py
    (a source checkout, as the README installs it)."""

    def factory() -> dict:
        import importlib.util
        import pathlib

        path = (
            pathlib.Path(__file__).resolve().parents[2] / "experiments" / f"{module}.py"
        )
        if not path.is_file():
            raise ValueError(
                f"experiment file {path} not found: run from a source checkout "
                f"(pip install -e .)"
            )
        spec = importlib.util.spec_from_file_location(f"experiments_{module}", path)
        loaded = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded)
        return getattr(loaded, function)()

    return factory


# name -> (kind, config factory, description)
EXPERIMENTS = {
    "bierl": (
        "compare",
        experiments_file("bierl", "quick"),
        "BiERL vs ES, NSR-ES, ESAC, PBT, PPO, SAC, TRPO (CPU mode)",
    ),
    "bierl-full": (
        "compare",
        experiments_file("bierl", "full"),
        "the same on brax locomotion (accelerator mode)",
    ),
    "trust-region": (
        "trust-region",
        experiments_file("trust_region", "quick"),
        "meta-KL (FQI) vs fixed and random KL for xTRPO, seeds/002 (CPU mode)",
    ),
    "trust-region-full": (
        "trust-region",
        experiments_file("trust_region", "full"),
        "the same at the seed's sizes (accelerator mode)",
    ),
    "trust-region-beyond": (
        "trust-region",
        experiments_file("trust_region", "beyond"),
        "CartPole with PBT, BiERL and PPO's FQI meta-clip beside meta-KL (CPU)",
    ),
    "sam-hrl-hs": (
        "episodes",
        experiments_file("sam_hrl_hs", "quick"),
        "episodes to target after tuning by SAM-HRL-HS, GP-BO, ..., seeds/000 (CPU)",
    ),
    "sam-hrl-hs-full": (
        "episodes",
        experiments_file("sam_hrl_hs", "full"),
        "the same at the full budget, 5 seeds (accelerator mode)",
    ),
    "sam-hrl-hs-transfer": (
        "transfer",
        experiments_file("sam_hrl_hs_transfer", "quick"),
        "SAM-HRL-HS meta-trained on CartPole/MountainCar tasks, searching "
        "Acrobot and LunarLander (CPU)",
    ),
    "sam-hrl-hs-transfer-full": (
        "transfer",
        experiments_file("sam_hrl_hs_transfer", "full"),
        "the same at the full budget, 5 seeds (accelerator mode)",
    ),
    "rl2": (
        "rl2",
        experiments_file("rl2", "quick"),
        "RL^2 vs bandit and random-MDP baselines, Duan et al. 2016 (CPU mode)",
    ),
    "rl2-full": (
        "rl2",
        experiments_file("rl2", "full"),
        "the same on all of the paper's settings and sizes (accelerator mode)",
    ),
    "options": (
        "options",
        experiments_file("options", "quick"),
        "flat vs SMDP vs intra-option Q-learning in Four Rooms, seeds/001 (CPU)",
    ),
    "options-full": (
        "options",
        experiments_file("options", "full"),
        "the same with 100 trials and 4 learning rates (accelerator mode)",
    ),
    "option-critic": (
        "option-critic",
        experiments_file("option_critic", "quick"),
        "option-critic vs AC-PG vs SARSA(0), Four Rooms transfer, 30 trials "
        "(Bacon et al. 2017)",
    ),
    "option-critic-full": (
        "option-critic",
        experiments_file("option_critic", "full"),
        "the same with the paper's 100 runs",
    ),
    "maxq": (
        "maxq",
        experiments_file("maxq", "quick"),
        "MAXQ-Q vs flat Q-learning on Taxi, 30 trials (Dietterich 2000)",
    ),
    "maxq-full": (
        "maxq",
        experiments_file("maxq", "full"),
        "the same with 100 trials and 5x the env steps",
    ),
    "diayn": (
        "diayn",
        experiments_file("diayn", "quick"),
        "DIAYN skills on Point2D and LunarLander, 10 and 20 skills, and a "
        "skill as SAC's start, 5 seeds (Eysenbach et al. 2018; CPU mode)",
    ),
    "diayn-full": (
        "diayn",
        experiments_file("diayn", "full"),
        "the same with 10 seeds, 10x the env steps (accelerator mode)",
    ),
    "hdqn": (
        "hdqn",
        experiments_file("hdqn", "quick"),
        "h-DQN vs flat Q-learning and flat DQN on the stochastic decision "
        "process, 30 trials (Kulkarni et al. 2016)",
    ),
    "hdqn-full": (
        "hdqn",
        experiments_file("hdqn", "full"),
        "the same at the paper's length (200,000 env steps a trial)",
    ),
    "maml": (
        "maml",
        experiments_file("maml", "quick"),
        "MAML, FOMAML, Directed-MAML, pretrained, random on Navigation2D and "
        "CartPole tasks (CPU mode)",
    ),
    "maml-full": (
        "maml",
        experiments_file("maml", "full"),
        "the same at the papers' sizes (accelerator mode)",
    ),
    "feudal": (
        "feudal",
        experiments_file("feudal", "quick"),
        "FeUdal networks vs a flat LSTM actor-critic and FuN without intrinsic "
        "reward on KeyDoor, 5 seeds (Vezhnevets et al. 2017, CPU mode)",
    ),
    "feudal-full": (
        "feudal",
        experiments_file("feudal", "full"),
        "the same on a larger KeyDoor at 10x the env steps",
    ),
    "hiro": (
        "hiro",
        experiments_file("hiro", "quick"),
        "HIRO vs HIRO without off-policy correction and flat TD3 on the "
        "point-mass U-maze, 5 seeds (Nachum et al. 2018, CPU mode)",
    ),
    "hiro-full": (
        "hiro",
        experiments_file("hiro", "full"),
        "the same with 10 seeds, a slower point and 1M env steps",
    ),
    "hiro-fixed-goal": (
        "hiro",
        experiments_file("hiro", "fixed_goal"),
        "hiro's quick mode with the far goal in training too (no curriculum)",
    ),
    "hiro-fixed-goal-long": (
        "hiro",
        experiments_file("hiro", "fixed_goal_long"),
        "hiro-fixed-goal with 480k env steps and 10 seeds",
    ),
    "hiro-slow": (
        "hiro",
        experiments_file("hiro", "slow"),
        "hiro's quick mode with a 3x slower point, 300-step episodes, 480k steps",
    ),
    "pbt-cartpole": ("pbt", pbt_cartpole, "PBT of 16 PPO members on CartPole-v1"),
    "quickstart": (
        "tune",
        quickstart,
        "tune PPO on CartPole-v1 (32 configs x 2 rounds)",
    ),
}
