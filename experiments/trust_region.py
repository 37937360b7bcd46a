"""Trust-region meta-learning (seeds/002, Figures 1-3): xTRPO whose KL bound
is chosen every update by a Fitted-Q-Iteration meta-model over metafeatures
(meta-KL), against the best fixed KL of a grid search and random KL, on
Elikoeidis, Minigolf and force-controlled CartPole, with policy
architectures seen and unseen in the meta-dataset.

    python experiments/trust_region.py           # --quick: the CPU mode
    python experiments/trust_region.py --full    # the seed's sizes
    python experiments/trust_region.py --beyond  # + PBT, BiERL, PPO meta-clip
    jaxmeta run trust-region / jaxmeta run trust-region-full   # the same

Writes runs/trust-region-N/: table.md (J at the last update, mean +- 90 %
CI over runs), results.csv, curves.csv, curves_<env>.png, fqi_selection.csv
and dataset_<env>.npz (reload with jaxmeta.control.meta_dataset.load).
docs/trust_region.md discusses the results.
"""

import sys


def elikoeidis() -> dict:
    """Figure 1 (left): c = [0.5, 3, 0.5, 1], linear policies, N = 8,
    100 tuples (10 runs x 10 updates)."""
    return {
        "label": "elikoeidis",
        "env": "Elikoeidis-v0",
        "tasks": False,
        "num_envs": 8,
        "num_steps": 1,
        "train_archs": [[]],
        "dataset_runs": 10,
        "train_updates": 10,
        "test_updates": 10,
        "eval_runs": 30,
        "metafeature_points": 8,
    }


def minigolf(runs_per_arch: int) -> dict:
    """Figure 2: linear and MLP(1, 16) in the dataset, MLP(2, 32) unseen;
    N = 64; tasks over putter length, friction and hole size."""
    return {
        "label": "minigolf",
        "env": "Minigolf-v0",
        "num_envs": 64,
        "num_steps": 20,
        "train_archs": [[], [16]],
        "test_archs": [[32, 32]],
        "dataset_runs": runs_per_arch,
        "train_updates": 45,
        "test_updates": 45,
        "eval_runs": 30,
    }


def cartpole(episodes: int, horizon: int, runs_per_arch: int) -> dict:
    """Figure 3: linear and MLP(2, 32) in the dataset (15-update runs),
    MLP(1, 16) and MLP(3, 64) unseen; tested on 45 updates; tasks over pole
    mass, pole length and cart mass."""
    return {
        "label": "cartpole",
        "env": "CartPoleContinuous-v1",
        "env_config": {"max_steps_in_episode": horizon},
        "num_envs": episodes,
        "num_steps": horizon,
        "train_archs": [[], [32, 32]],
        "test_archs": [[16], [64, 64, 64]],
        "dataset_runs": runs_per_arch,
        "train_updates": 15,
        "test_updates": 45,
        "eval_runs": 30,
    }


def quick() -> dict:
    """CPU mode: Minigolf's 7000 tuples as the seed; CartPole with 32
    episodes of at most 100 steps per update and 4500 tuples (the seed: 64
    episodes of 500 steps, 15000 tuples)."""
    return {
        "name": "trust-region",
        "envs": [elikoeidis(), minigolf(78), cartpole(32, 100, 150)],
        "seed": 0,
    }


def full() -> dict:
    """The seed's sizes: CartPole with N = 64 episodes of up to 500 steps
    and 15000 tuples (2 architectures x 500 runs x 15 updates)."""
    return {
        "name": "trust-region-full",
        "envs": [elikoeidis(), minigolf(78), cartpole(64, 500, 500)],
        "seed": 0,
    }


def beyond() -> dict:
    """Beyond the seed, CartPole only (CPU mode): PBT (4 members) and BiERL
    (meta-population 8, a meta step every 5 updates) on xTRPO's lambda, and
    the FQI controller refitted on PPO runs with random clip_eps setting
    PPO's clip, beside meta-KL, on the linear (seen) and MLP(1, 16) (unseen)
    policies."""
    env = cartpole(32, 100, 150)
    env["beyond"] = {
        "archs": [[], [16]],
        "ppo": {},
        "pbt": {"members": 4, "interval": 5},
        "bierl": {"meta_population": 8, "meta_every": 5},
    }
    return {"name": "trust-region-beyond", "envs": [env], "seed": 0}


if __name__ == "__main__":
    from jaxmeta.cli import main

    args = sys.argv[1:]
    name = "trust-region-full" if "--full" in args else "trust-region"
    name = "trust-region-beyond" if "--beyond" in args else name
    args = [a for a in args if a not in ("--full", "--quick", "--beyond")]
    sys.exit(main(["run", name, *args]))
