"""ARLBench side of benchmarks/tuning_cost.py, run in its own venv (ARLBench
pins jax 0.4.26 and friends). Each config is one `AutoRLEnv` episode of one
step, `step(config)` training PPO for the whole budget and evaluating it at
the end, one config after another (ARLBench's hyperparameters are static, so
every config compiles anew). Prints one JSON line: per-config wall seconds
and evaluation returns."""

import json
import sys
import time

from _peer_venv import print_result


def main(config: dict) -> None:
    from arlbench import AutoRLEnv

    fixed = config["fixed"]
    seconds, returns = [], []
    began_all = time.perf_counter()
    for number, values in enumerate(config["configs"]):
        began = time.perf_counter()
        env = AutoRLEnv(
            {
                "algorithm": "ppo",
                "env_framework": "gymnax",
                "env_name": "CartPole-v1",
                "n_envs": fixed["num_envs"],
                "n_total_timesteps": config["total_steps"],
                "n_steps": 1,  # one AutoRL step: the whole training run
                "n_eval_steps": 1,  # one evaluation, after training
                "n_eval_episodes": config["eval_episodes"],
                "deterministic_eval": True,
                "nas_config": {"activation": "tanh", "hidden_size": fixed["hidden"][0]},
                "seed": number,
            }
        )
        env.reset()
        hpo = {
            **values,
            "gamma": fixed["gamma"],
            "n_steps": fixed["num_steps"],
            "minibatch_size": fixed["num_envs"]
            * fixed["num_steps"]
            // fixed["minibatches"],
            "update_epochs": fixed["epochs"],
            "vf_clip_eps": values["clip_eps"],
            "normalize_advantage": True,
            "normalize_observations": False,
        }
        _, objectives, _, _, _ = env.step(hpo)
        seconds.append(time.perf_counter() - began)
        returns.append(float(objectives["reward_mean"]))
    from importlib import metadata

    versions = {n: metadata.version(n) for n in ("arlbench", "jax", "gymnax")}
    total = time.perf_counter() - began_all
    print_result(seconds, returns, total, versions)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
