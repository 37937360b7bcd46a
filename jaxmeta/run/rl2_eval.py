"""The RL^2 experiment's evaluation (`run/rl2.py`): one program per setting
in which RL^2 (sampled and greedy actions, its seeds averaged) and every
baseline play one trial on each of the same tasks, with the same env keys
(common random numbers). Tasks are `tune + count` draws of the setting's
distribution; a baseline's grid values all play every task and the value
best on the first `tune` tasks is reported on the other `count`. Gittins
tables are built here (NumPy, cached), not when the experiment is built.
"""

import dataclasses
import itertools

import jax
import jax.numpy as jnp
import numpy as np

from jaxmeta.adapt import bandit_baselines as bandit
from jaxmeta.adapt import mdp_baselines as mdp
from jaxmeta.adapt.rl2 import RL2Agent
from jaxmeta.learners.common.trials import run_trial


def _play(agent, env, episodes, keys, params, tasks):
    """Trials of every grid value [G] on every task [M]: totals [G, M] and
    per-episode returns [G, M, episodes]."""

    def on_tasks(p):
        return jax.vmap(
            lambda k, t: run_trial(agent, k, p, env, t, episodes), in_axes=(0, 0)
        )(keys, tasks)

    return jax.vmap(on_tasks)(params)


def _method(totals, per_episode, tune: int, start: int, stop: int, reduce: str):
    """One method's outputs from its agent's grid rows [start, stop): "best"
    takes the row best on the first `tune` tasks (`tune_means` [stop -
    start], `best` [] index in the slice), "mean" averages the rows (RL^2's
    seeds); either way its trials on the held-out tasks: totals [M - tune],
    mean per-episode return [episodes]."""
    totals, per_episode = totals[start:stop], per_episode[start:stop]
    if reduce == "mean":
        return {
            "totals": totals[:, tune:].mean(0),
            "per_episode": per_episode[:, tune:].mean((0, 1)),
        }
    tune_means = totals[:, :tune].mean(1)
    best = jnp.argmax(tune_means)
    return {
        "totals": totals[best, tune:],
        "per_episode": per_episode[best, tune:].mean(0),
        "tune_means": tune_means,
        "best": best,
    }


@dataclasses.dataclass(frozen=True)
class EvalPlan:
    """What one setting's evaluation runs (static): the inner env, its task
    distribution, n, the numbers of tuning and evaluation tasks, and per
    agent (name, agent, methods), a method being (name, first grid row,
    row after the last, "best" or "mean")."""

    env: object
    distribution: object
    episodes: int
    tune: int
    count: int
    agents: tuple


def _evaluate(plan: EvalPlan, key, params: dict, failure):
    """Every agent of `plan` in one program, on `plan.tune + plan.count`
    tasks drawn with `key` (each task's env key shared by all agents).
    params: agent name -> agent_params with a leading grid axis. Returns
    method -> `_method` outputs (RL^2's with its seeds' `failure` codes)."""
    key_tasks, key_env = jax.random.split(key)
    tasks = jax.vmap(plan.distribution.sample)(
        jax.random.split(key_tasks, plan.tune + plan.count)
    )
    keys = jax.random.split(key_env, plan.tune + plan.count)
    outputs = {}
    for name, agent, methods in plan.agents:
        played = _play(agent, plan.env, plan.episodes, keys, params[name], tasks)
        for method, start, stop, reduce in methods:
            outputs[method] = _method(*played, plan.tune, start, stop, reduce)
    for method in ("rl2", "rl2-greedy"):
        outputs[method]["failure"] = failure
    return outputs


_evaluate_jit = jax.jit(_evaluate, static_argnums=0)


def baseline_grids(config, setting) -> dict:
    """Agent name -> (agent, agent_params with a leading grid axis [G],
    methods as in `EvalPlan`). Greedy is epsilon-greedy's row epsilon = 0,
    so one agent serves both."""
    s = setting.spec
    zeros = jnp.zeros(1, jnp.float32)
    eps = jnp.asarray((0.0, *config.epsilons), jnp.float32)
    size = len(config.epsilons) + 1
    greedy = (("greedy", 0, 1, "best"), ("epsilon-greedy", 1, size, "best"))

    def alone(name, grid):
        """The method of an agent of its own: the best of its whole grid."""
        size = jax.tree_util.tree_leaves(grid)[0].shape[0]
        return ((name, 0, size, "best"),)

    if s["problem"] == "bandit":
        k, n = s["arms"], s["episodes"]
        tables = [bandit.gittins_table(g, n) for g in config.gittins_discounts]
        ucb = jnp.asarray(config.ucb_scales, jnp.float32)
        gittins = jnp.asarray(np.stack(tables))
        return {
            "random": (bandit.RandomArm(k), zeros, alone("random", zeros)),
            "epsilon-greedy": (bandit.EpsilonGreedy(k), eps, greedy),
            "ucb1": (bandit.UCB1(k), ucb, alone("ucb1", ucb)),
            "thompson": (bandit.Thompson(k), zeros, alone("thompson", zeros)),
            "gittins": (bandit.Gittins(k), gittins, alone("gittins", gittins)),
        }
    prior = setting.tasks
    pairs = list(itertools.product(config.q_learning_rates, config.q_epsilons))
    q_params = {
        "alpha": jnp.asarray([a for a, _ in pairs], jnp.float32),
        "epsilon": jnp.asarray([e for _, e in pairs], jnp.float32),
    }
    return {
        "random": (mdp.RandomAction(prior), zeros, alone("random", zeros)),
        "epsilon-greedy": (mdp.PosteriorMeanGreedy(prior), eps, greedy),
        "q-learning": (mdp.QLearning(prior), q_params, alone("q-learning", q_params)),
        "psrl": (mdp.PSRL(prior), zeros, alone("psrl", zeros)),
    }


def evaluate_setting(key, config, setting, members) -> dict:
    """RL^2 (sampled and greedy actions, its seeds averaged) and every
    baseline of `setting` (a `run.rl2.Setting`; `config` its `RL2Config`) on
    the same held-out tasks. members: RL^2's population record (padded).
    Returns method -> `_method` outputs (device arrays)."""
    seeds = setting.spec["seeds"]
    rl2_params = jax.tree_util.tree_map(
        lambda x: jnp.concatenate([x[:seeds]] * 2), members["learner"].params
    )
    greedy = jnp.repeat(jnp.asarray([False, True]), seeds)
    methods = (("rl2", 0, seeds, "mean"), ("rl2-greedy", seeds, 2 * seeds, "mean"))
    agents = [("rl2", RL2Agent(setting.learner), methods)]
    params = {"rl2": (rl2_params, greedy)}
    for name, (agent, grid, methods) in baseline_grids(config, setting).items():
        agents.append((name, agent, methods))
        params[name] = grid
    plan = EvalPlan(
        setting.env,
        setting.tasks,
        setting.spec["episodes"],
        config.tune_tasks,
        config.eval_tasks,
        tuple(agents),
    )
    failure = members["failure"]["code"][:seeds]
    return _evaluate_jit(plan, key, params, failure)
