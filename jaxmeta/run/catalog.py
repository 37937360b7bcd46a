"""Named runnable experiments for `jaxmeta run NAME`.

Each entry builds a `TuneConfig` (or, later, another experiment kind). The files
under `experiments/` call the same entries, so `python experiments/X.py` and
`jaxmeta run X` run the same thing.
"""

from jaxmeta.run.tune import TuneConfig
from jaxmeta.search import Logit, LogUniform, Uniform


def quickstart(seed: int = 0) -> TuneConfig:
    """Tune PPO on CartPole-v1: 32 configs, two rounds of CMA-ES search."""
    return TuneConfig(
        name="quickstart",
        env="CartPole-v1",
        learner="ppo",
        learner_config=dict(num_envs=16, num_steps=64, num_epochs=4, num_minibatches=4),
        dims=dict(
            learning_rate=LogUniform(3e-4, 3e-2),
            gamma=Logit(0.95, 0.999),
            gae_lambda=Logit(0.8, 0.99),
            clip_eps=Uniform(0.1, 0.3),
            ent_coef=LogUniform(1e-4, 3e-2),
        ),
        searcher="evosax",
        searcher_config=dict(strategy="CMA_ES"),
        population_size=32,
        rounds=2,
        num_updates=100,
        chunk_size=10,
        eval_episodes=32,
        eval_max_steps=500,
        return_bounds=(0.0, 500.0),
        seed=seed,
    )


EXPERIMENTS = {
    "quickstart": (quickstart, "tune PPO on CartPole-v1 (32 configs x 2 rounds)"),
}


def get_experiment(name: str):
    """The config factory for `name`; ValueError lists the allowed names."""
    if name not in EXPERIMENTS:
        raise ValueError(
            f"unknown experiment {name!r}; allowed values: "
            f"{', '.join(sorted(EXPERIMENTS))}"
        )
    return EXPERIMENTS[name][0]
