"""MAML, FOMAML, Directed-MAML, a multi-task pretrained policy and a random
initialisation on Navigation2D (the MAML paper's Figure 5 setup and the seed
chapter's), and MAML, FOMAML, Directed-MAML and Directed-FOMAML on
CartPole-v1 tasks (Directed-MAML's convergence claim): the return on
held-out tasks after 0..K inner steps, mean ± 95 % CI over 5 seeds, and
meta-iterations / wall time to converge.

    python experiments/maml.py            # --quick: shrunk sizes (CPU, ~10 min)
    python experiments/maml.py --full     # the papers' sizes (accelerator)
    jaxmeta run maml / jaxmeta run maml-full   # the same

Writes runs/maml-N/: table.md, results.csv, convergence.csv, curves.csv,
adaptation.csv, maml.png. docs/maml_experiment.md discusses the results.
Also LunarLander-v3 tasks over gravity (our task family: the Directed-MAML
paper's is not specified in what we could read), 200-step episodes in the
quick mode, 1,000 in the full one.
"""

import sys

# The MAML paper's Navigation2D: goals U[-0.5, 0.5]^2, moves clipped to
# +-0.1, 100 steps, goal radius 0.01 (the env's defaults).
NAV_PAPER = {"label": "nav-paper", "env": "Navigation2D-v0"}
# The seed chapter's: goals U[-10, 10]^2, position += 0.5 * action with
# action in [-1, 1]^2 (= moves clipped to +-0.5), 50 steps, done within 0.5.
NAV_SEED = {"label": "nav-seed", "env": "Navigation2D-v0",
            "env_options": {"max_step": 0.5, "goal_radius": 0.5,
                            "max_steps_in_episode": 50},
            "tasks": {"goal": [-10.0, 10.0], "arena_half_width": 10.0}}  # fmt: skip
# Directed-MAML's CartPole-v1 tasks: pole mass, pole length, cart mass.
DIRECTED = ["maml", "fomaml", "directed-maml", "directed-fomaml"]
CARTPOLE = {"label": "cartpole", "env": "CartPole-v1", "methods": DIRECTED}
# LunarLander-v3 tasks over gravity U[-11, -9] (`LunarLanderTasks`; wind off,
# as v3's default). The Directed-MAML paper's LunarLander task family is not
# in what we could read: this one is ours.
LUNAR = {"label": "lunar", "env": "LunarLander-v3", "methods": DIRECTED}


def quick() -> dict:
    """Shrunk for 2 CPU cores: MLP 32x32 (paper 100x100), meta-batch 10
    (20), 10 episodes per task (20), 40 meta-iterations by Adam at 0.01
    (paper: TRPO), 20 held-out tasks (40); CartPole episodes cut at 100
    steps (500), LunarLander's at 200 (1,000)."""
    small = {"hidden": [32, 32], "meta_batch_size": 10, "num_episodes": 10}
    lr = {"inner_lr": 0.1, "outer_lr": 0.01}
    budget = {"meta_iterations": 40, "eval_tasks": 20}
    return {
        "name": "maml", "seeds": 5, "chunks": 4, "seed": 0,
        "settings": [
            {**NAV_PAPER, "adapter": {**small, "horizon": 100}, "hparams": lr,
             **budget, "adapt_steps": 5},
            {**NAV_SEED, "adapter": {**small, "horizon": 50}, "hparams": lr,
             **budget, "adapt_steps": 5},
            {**CARTPOLE, "adapter": {**small, "horizon": 100}, "hparams": lr,
             **budget, "adapt_steps": 1},
            {**LUNAR, "adapter": {**small, "horizon": 200}, "hparams": lr,
             **budget, "adapt_steps": 1},
        ],
    }  # fmt: skip


def full() -> dict:
    """The papers' sizes: MAML's Navigation2D (MLP 100x100, meta-batch 20,
    20 episodes of 100 steps, inner lr 0.1, TRPO with KL 0.01, 40 held-out
    tasks, 500 meta-iterations); the seed's (its MLP of 64 units, meta-batch
    10, Adam 1e-3, 500 iterations); CartPole-v1 with 500-step episodes."""
    paper = {"hidden": [100, 100], "meta_batch_size": 20, "num_episodes": 20}
    trpo = {**paper, "outer_optimizer": "trpo"}
    budget = {"meta_iterations": 500, "eval_tasks": 40, "adapt_steps": 5}
    return {
        "name": "maml-full", "seeds": 5, "chunks": 50, "seed": 0,
        "settings": [
            {**NAV_PAPER, "adapter": {**trpo, "horizon": 100},
             "hparams": {"inner_lr": 0.1, "max_kl": 0.01}, **budget},
            {**NAV_SEED, "adapter": {"hidden": [64], "meta_batch_size": 10,
                                     "num_episodes": 20, "horizon": 50},
             "hparams": {"inner_lr": 0.1, "outer_lr": 1e-3}, **budget},
            {**CARTPOLE, "adapter": {**trpo, "horizon": 500},
             "hparams": {"inner_lr": 0.1, "max_kl": 0.01}, **budget,
             "adapt_steps": 1},
            {**LUNAR, "adapter": {**trpo, "horizon": 1000},
             "hparams": {"inner_lr": 0.1, "max_kl": 0.01}, **budget,
             "adapt_steps": 1},
        ],
    }  # fmt: skip


if __name__ == "__main__":
    from jaxmeta.cli import main

    args = sys.argv[1:]
    name = "maml-full" if "--full" in args else "maml"
    args = [a for a in args if a not in ("--full", "--quick")]
    sys.exit(main(["run", name, *args]))
