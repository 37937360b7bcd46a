"""RL^2 against the baselines of Duan et al. (2016), Tables 1 and 2, as one
client of the run driver.

Each setting (Bernoulli bandits with k arms, or random tabular MDPs; n
episodes per trial) is `chunks` driver chunks of RL^2 training (`seeds` runs
vmapped, `updates / chunks` updates each; the trials are `RL2Trials` over
the setting's task distribution) and one evaluation chunk: RL^2 (sampled and
greedy actions, averaged over its seeds) and every baseline play one trial
on each of the same `eval_tasks` held-out tasks, stepped with the same env
keys (common random numbers). A baseline with a hyperparameter plays every
value of its grid, on `tune_tasks` other tasks too, and reports the value
that did best there. Gittins tables are built (NumPy) in the evaluation
chunk, so building the experiment stays cheap.

Files: curves.csv (RL^2's training trial return per update and seed),
results.csv (one row per setting and method), table.md (mean total reward
+- 95 % CI over tasks beside the paper's numbers), curves.png and
episodes.png (mean reward per episode of the trial).
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp

from jaxmeta.adapt.rl2 import RL2
from jaxmeta.envs.bandits import BernoulliBandit, BernoulliBanditTasks
from jaxmeta.envs.random_mdp import RandomMDP, RandomMDPTasks
from jaxmeta.envs.rl2 import RL2Trials
from jaxmeta.learners.base import check_hparams, hparams_with
from jaxmeta.run import driver, rl2_eval
from jaxmeta.run import rl2_report as report_mod
from jaxmeta.run.population import check_budget, start_members_jit, train_members
from jaxmeta.run.rl2_config import RL2Config
from jaxmeta.run.sharding import pad_population, padded_size
from jaxmeta.validation import checked_fields

KEPT = ("episode_return", "env_steps")  # training metrics brought to the host


@dataclasses.dataclass(frozen=True)
class Setting:
    spec: dict
    env: object  # the inner env: BernoulliBandit or RandomMDP
    tasks: object  # its task distribution
    learner: RL2
    hparams: object  # RL2HParams

    @property
    def label(self) -> str:
        return self.spec["label"]

    @property
    def per_chunk(self) -> int:
        return self.spec["updates"] // self.spec["chunks"]


@functools.lru_cache(maxsize=64)
def trials_for(problem: str, arms: int, states: int, actions: int, horizon: int,
               episodes: int):  # fmt: skip
    """`(inner env, task distribution, RL2Trials)` of a setting, one instance
    per setting: experiments rebuilt from the same config (resume) then
    share their compiled programs (`RL2Trials` compares by identity)."""
    if problem == "bandit":
        env, tasks = BernoulliBandit(arms), BernoulliBanditTasks(arms)
    else:
        sizes = dict(num_states=states, num_actions=actions, horizon=horizon)
        env, tasks = RandomMDP(**sizes), RandomMDPTasks(**sizes)
    return env, tasks, RL2Trials(env, tasks, episodes)


def build_setting(spec: dict, where: str) -> Setting:
    """Envs, task distribution and RL^2 learner of one setting; every check
    (the learner's static config and hparams) runs here."""
    keys = ("problem", "arms", "states", "actions", "horizon", "episodes")
    env, tasks, trials = trials_for(*(spec[k] for k in keys))
    config = checked_fields(RL2, spec["learner"], f"{where}.learner", skip=("env",))
    learner = RL2(trials, **config)
    hparams = hparams_with(learner.default_hparams(), **spec["hparams"])
    check_hparams(learner, hparams, f"{where}.hparams")
    check_budget(learner, spec["updates"])
    return Setting(spec, env, tasks, learner, hparams)


class RL2Experiment(driver.ReportedBy):
    kind = "rl2"
    headline = "setting"
    report_module = report_mod

    def __init__(self, config: RL2Config):
        if not isinstance(config, RL2Config):
            raise TypeError(f"config must be an RL2Config, got {type(config).__name__}")
        self.config, self.seed = config, config.seed
        self.settings = [
            build_setting(spec, f"settings[{i}]")
            for i, spec in enumerate(config.settings)
        ]
        # (setting index, chunk within the setting; -1: the evaluation)
        self.schedule = [
            (i, c)
            for i, s in enumerate(self.settings)
            for c in [*range(s.spec["chunks"]), -1]
        ]
        self.num_chunks = len(self.schedule)

    def init(self, key, mesh):
        """Every setting's RL^2 seeds, initialised (leaves [padded seeds])."""
        population = {}
        for index, setting in enumerate(self.settings):
            seeds = setting.spec["seeds"]
            size = padded_size(seeds, mesh)
            batched = jax.tree_util.tree_map(
                lambda x, n=seeds: jnp.broadcast_to(x, (n,) + jnp.shape(x)),
                setting.hparams,
            )
            keys = jax.random.split(jax.random.fold_in(key, index), seeds)
            members = {
                "hparams": pad_population(batched, seeds, size),
                "keys": pad_population(jax.random.key_data(keys), seeds, size),
            }
            placed = driver.place_state({"population": members, "shared": {}}, mesh)
            members = placed["population"]
            population[setting.label] = start_members_jit(
                setting.learner,
                jax.random.wrap_key_data(members["keys"]),
                members["hparams"],
                setting.learner.env.default_params,
                False,
            )
        return {"population": population, "shared": {}}

    def step(self, key, state, chunk: int, mesh):
        """A chunk of one setting's RL^2 training, or its evaluation."""
        index, sub = self.schedule[chunk]
        setting = self.settings[index]
        population = dict(state["population"])
        members = population[setting.label]
        if sub >= 0:
            members, metrics = train_members(
                setting.learner,
                members,
                setting.learner.env.default_params,
                sub * setting.per_chunk,
                setting.per_chunk,
            )
            population[setting.label] = members
            outputs = {"metrics": {k: metrics[k] for k in KEPT}}
        else:
            outputs = rl2_eval.evaluate_setting(
                jax.random.fold_in(key, 10_000 + index), self.config, setting, members
            )
        return {"population": population, "shared": state["shared"]}, outputs

    def result_rows(self, host) -> list[dict]:
        """One row per setting and method (see rl2_report.result_row)."""
        return host["results"]

    def summary(self, rows, top: int = 5) -> str:
        return report_mod.tables(self, rows)
