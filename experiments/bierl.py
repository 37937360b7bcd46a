"""BiERL (seeds/003, arXiv 2308.01207): BiERL vs vanilla ES at fixed sigma,
NSR-ES, ESAC, PBT over sigma and the learning rate, PPO, SAC and TRPO, at
equal env steps per run, several seeds, on the run layer (resumable,
progress, TensorBoard).

    python experiments/bierl.py            # --quick: the CPU mode, one run per env
    python experiments/bierl.py --full     # the accelerator mode (brax locomotion)
    jaxmeta run bierl / jaxmeta run bierl-full   # the same
    jaxmeta run bierl --set seeds=10 --set budget=500000   # any field

Writes runs/bierl-N/: table.md (final return mean +- 95 % CI per env and
method), results.csv, curves.csv, curves_<env>.png, bierl_sigma.png (the
sigma BiERL chose per generation). docs/control.md discusses the results.
"""

import sys

# ES population and episode cap per env (quick mode); BiERL's LSTM reads the
# sorted returns of the whole population, so its input width is the population.
QUICK_POPULATION = 16


def methods(
    population: int,
    steps: int,
    meta_population: int,
    meta_every: int,
    warm_updates: int,
    ppo_envs: int,
    sac_collect: tuple[int, int, int],
) -> list[dict]:
    """The method specs of the comparison (see jaxmeta/run/methods.py).
    sac_collect: SAC's (num_envs, num_steps, gradient_steps) per update."""
    sac_envs, sac_steps, sac_gradient_steps = sac_collect
    es_config = {"population_size": population, "max_episode_steps": steps}
    specs = [
        {
            "name": f"es-sigma-{sigma}",
            "learner": "es",
            "learner_config": es_config,
            "hparams": {"sigma": sigma},
        }
        for sigma in (0.01, 0.02, 0.05, 0.1)
    ]
    bierl = {
        "meta_population": meta_population,
        "meta_every": meta_every,
        "fitness_population": 10,
        "truncation": 1,
        "warm_start": {"env": "brax-inverted_pendulum", "updates": warm_updates},
    }
    specs += [
        {"name": "bierl", "learner": "es", "learner_config": es_config, "bierl": bierl},
        {
            "name": "bierl-mlp",
            "learner": "es",
            "learner_config": es_config,
            "bierl": {**bierl, "controller": {"encoder": "mlp"}},
        },
        {
            "name": "nsr-es",
            "learner": "nsr_es",
            "learner_config": es_config,
            "envs": [
                "LunarLanderContinuous-v3",
                "brax-inverted_pendulum",
                "brax-halfcheetah",
                "brax-ant",
                "brax-hopper",
                "brax-walker2d",
            ],
        },
        {"name": "esac", "learner": "esac", "learner_config": es_config},
        {
            "name": "pbt",
            "learner": "es",
            "learner_config": es_config,
            "pbt": {
                "members": 4,
                "interval": 5,
                "dims": {
                    "sigma": {"kind": "log_uniform", "low": 0.005, "high": 0.2},
                    "learning_rate": {"kind": "log_uniform", "low": 0.003, "high": 0.1},
                },
            },
        },
        {
            "name": "ppo",
            "learner": "ppo",
            "learner_config": {
                "num_envs": ppo_envs,
                "num_steps": 256,
                "num_epochs": 4,
                "num_minibatches": 4,
                "normalize_obs": True,
            },
        },
        {
            "name": "sac",
            "learner": "sac",
            "learner_config": {
                "num_envs": sac_envs,
                "num_steps": sac_steps,
                "gradient_steps": sac_gradient_steps,
                "batch_size": 128,
                "hidden": [64, 64],
            },
        },
        {
            "name": "trpo",
            "learner": "trpo",
            "learner_config": {
                "num_envs": ppo_envs,
                "num_steps": 256,
                "hidden": [64, 64],
            },
        },
    ]
    return specs


def quick() -> dict:
    """CPU mode: continuous LunarLander (ours), Pendulum, brax inverted
    pendulum at reduced budgets; 5 seeds."""
    return {
        "name": "bierl",
        "envs": ["LunarLanderContinuous-v3", "Pendulum-v1", "brax-inverted_pendulum"],
        # SAC collects 64 steps per update and takes 4 gradient steps (one
        # per 16 env steps): at one per 4 env steps SAC alone took 28 min.
        "methods": methods(QUICK_POPULATION, 200, 8, 5, 10, 8, (16, 4, 4)),
        "env_config": {"brax-inverted_pendulum": {"max_steps_in_episode": 200}},
        "seeds": 5,
        # 1 BiERL update per chunk: 5 x 17 x 200 inner + 8 x 11 x 200 meta
        # steps (34,600 of 35,000), so every method gets about the same
        # 140k; sized so the three envs fit 30 minutes here.
        "budget": 140_000,
        "chunks": 4,
        "eval_episodes": 8,
        "eval_max_steps": 1000,
        "seed": 0,
    }


def full() -> dict:
    """Accelerator mode: brax locomotion as in the paper (population 200,
    meta-population 200, t = 10), 20M env steps per run."""
    return {
        "name": "bierl-full",
        "envs": ["brax-halfcheetah", "brax-ant", "brax-hopper", "brax-walker2d"],
        "methods": methods(200, 1000, 200, 10, 100, 64, (64, 1, 16)),
        "seeds": 5,
        "budget": 20_000_000,
        "chunks": 20,
        "eval_episodes": 16,
        "eval_max_steps": 1000,
        "seed": 0,
    }


def quick_per_env(args: list[str]) -> int:
    """The CPU mode as one run per env, each in its own process: with every
    env in one process, XLA's CPU backend ran out of memory maps (LLVM
    "Cannot allocate memory", then a crash) while loading the ~35 compiled
    programs of the second chunk on this 2-core machine."""
    import subprocess

    for env in quick()["envs"]:
        command = [sys.executable, "-m", "jaxmeta.cli", "run", "bierl"]
        command += ["--set", f'envs=["{env}"]', *args]
        code = subprocess.call(command)
        if code:
            return code
    return 0


if __name__ == "__main__":
    from jaxmeta.cli import main

    args = sys.argv[1:]
    full = "--full" in args
    args = [a for a in args if a not in ("--full", "--quick")]
    sys.exit(main(["run", "bierl-full", *args]) if full else quick_per_env(args))
