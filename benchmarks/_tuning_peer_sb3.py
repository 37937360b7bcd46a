"""Optuna + Stable-Baselines3 side of benchmarks/tuning_cost.py, run in its own
venv (torch, SB3 and Optuna cannot share jaxmeta's environment by default).

An Optuna study (random sampler) whose trials are the benchmark's configs,
enqueued in order; each trial trains SB3's PPO from scratch and is scored by
its deterministic evaluation, one trial after another, as Optuna users run
it. Prints one JSON line: per-trial wall seconds and evaluation returns."""

import json
import sys
import time

from _peer_venv import print_result


def main(config: dict) -> None:
    import numpy as np
    import optuna
    import stable_baselines3
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    torch.set_num_threads(config["threads"])
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    fixed, space = config["fixed"], config["space"]
    seconds, returns = [], []

    def objective(trial):
        values = {
            name: trial.suggest_float(name, low, high, log=kind == "log")
            for name, (kind, low, high) in space.items()
        }
        began = time.perf_counter()
        env = make_vec_env("CartPole-v1", n_envs=fixed["num_envs"], seed=trial.number)
        model = PPO(
            "MlpPolicy",
            env,
            learning_rate=values["learning_rate"],
            n_steps=fixed["num_steps"],
            batch_size=fixed["num_envs"] * fixed["num_steps"] // fixed["minibatches"],
            n_epochs=fixed["epochs"],
            gamma=fixed["gamma"],
            gae_lambda=values["gae_lambda"],
            clip_range=values["clip_eps"],
            clip_range_vf=values["clip_eps"],
            ent_coef=values["ent_coef"],
            vf_coef=values["vf_coef"],
            max_grad_norm=values["max_grad_norm"],
            policy_kwargs={
                "net_arch": list(fixed["hidden"]),
                "activation_fn": torch.nn.Tanh,
            },
            seed=trial.number,
            device="cpu",
            verbose=0,
        )
        model.learn(config["total_steps"])
        eval_env = make_vec_env("CartPole-v1", n_envs=1, seed=10_000 + trial.number)
        mean, _ = evaluate_policy(
            model, eval_env, n_eval_episodes=config["eval_episodes"], deterministic=True
        )
        seconds.append(time.perf_counter() - began)
        returns.append(float(mean))
        return mean

    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0)
    )
    for values in config["configs"]:
        study.enqueue_trial(values)
    began = time.perf_counter()
    study.optimize(objective, n_trials=len(config["configs"]))
    total = time.perf_counter() - began
    versions = {
        "optuna": optuna.__version__,
        "stable_baselines3": stable_baselines3.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
    }
    print_result(seconds, returns, total, versions)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
