"""sb3-contrib's TRPO side of benchmarks/trpo_throughput.py, run in its own
venv (torch + stable-baselines3 cannot share jaxmeta's environment by
default). Prints one JSON line: per-run wall seconds and final returns."""

import json
import sys
import time


def main(config: dict) -> None:
    import gymnasium as gym
    import numpy as np
    import torch
    from sb3_contrib import TRPO

    torch.set_num_threads(config["threads"])
    seconds, finals = [], []
    for run in range(config["runs"]):
        env = gym.make("Pendulum-v1")
        model = TRPO(
            "MlpPolicy",
            env,
            n_steps=config["num_steps"],
            batch_size=config["num_steps"],  # one full-batch critic step per iter
            n_critic_updates=config["vf_iters"],
            cg_max_steps=config["cg_iters"],
            line_search_max_iter=config["line_search_steps"],
            target_kl=config["max_kl"],
            gamma=0.99,
            gae_lambda=0.97,
            learning_rate=1e-3,
            normalize_advantage=True,
            policy_kwargs={"net_arch": list(config["hidden"])},
            seed=run,
            device="cpu",
            verbose=0,
        )
        began = time.perf_counter()
        model.learn(config["num_steps"] * config["updates"])
        seconds.append(time.perf_counter() - began)
        episodes = [info["r"] for info in model.ep_info_buffer][-config["episodes"] :]
        finals.append(float(np.mean(episodes)) if episodes else float("nan"))
    versions = {"sb3_contrib": __import__("sb3_contrib").__version__,
                "torch": torch.__version__}  # fmt: skip
    print(json.dumps({"seconds": seconds, "finals": finals, "versions": versions}))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
