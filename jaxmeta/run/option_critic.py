"""The option-critic Four Rooms transfer experiment (Bacon, Harb and Precup
2017, Figure 2 and 3) on the run layer: option-critic with 4 options
against the primitive actor-critic AC-PG and SARSA(0).

Moves fail with probability 1/3, gamma = 0.99, starts are uniform, the
goal is the east hallway (7, 9) and moves, once a trial's 1000th episode
has ended, to a cell of the lower-right room drawn per trial (trial i
gets the same cell, and the same key, in every method). The move is
exact per trial: the goal and the count of ended episodes are in the
env (`envs.four_rooms_switch`), traced. Every method's `trials` agents
are one vmapped group, trained online with one env each; each driver
chunk runs `env_steps / chunks` env steps of every agent and copies the
length of each episode that ended into a fixed [agents, episodes]
record in the state, so a checkpoint between chunks resumes exactly.
After the last chunk the option-critic agents' termination
probabilities beta_w(s) [S, O] come back for the maps.

Files (`option_critic_report`): progress.csv, results.csv, curves.csv,
table.md, curves.png, terminations.png.
"""

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxmeta.envs.four_rooms import CELL_INDEX, CELLS, ROOM_OF_CELL
from jaxmeta.envs.four_rooms_switch import make_four_rooms_switch
from jaxmeta.run import driver
from jaxmeta.run import option_critic_report as report_mod
from jaxmeta.run.option_critic_config import HALLWAY_GOAL, OptionCriticConfig
from jaxmeta.run.options import record_episodes_jit
from jaxmeta.run.options_config import optimal_steps
from jaxmeta.run.population import MAX_ENV_STEPS, start_members_jit, train_members
from jaxmeta.run.sharding import pad_population, padded_size

LOWER_RIGHT = np.flatnonzero(ROOM_OF_CELL == 3)  # the room's 20 cells


@functools.cache
def _env(fail_prob: float, max_steps: int):
    """One env object and base params per process (learners compare envs
    by identity, so each method compiles once, also when resumed)."""
    return make_four_rooms_switch(
        goal=HALLWAY_GOAL, fail_prob=fail_prob, max_steps_in_episode=max_steps
    )


@functools.cache
def _mean_optimum(cell: int, fail_prob: float) -> float:
    steps = optimal_steps(cell, fail_prob)
    return float(steps[steps > 0].mean())


def new_goal_cells(key, trials: int) -> np.ndarray:
    """Each trial's new goal, a cell index of the lower-right room: [trials]."""
    keys = jax.random.split(jax.random.fold_in(key, 1), trials)
    pick = jax.vmap(lambda k: jax.random.randint(k, (), 0, LOWER_RIGHT.size))(keys)
    return LOWER_RIGHT[np.asarray(pick)]


class OptionCriticExperiment(driver.ReportedBy):
    """The experiment on the driver (kind "option-critic")."""

    kind = "option-critic"
    headline = "done"
    report_module = report_mod

    def __init__(self, config: OptionCriticConfig):
        if not isinstance(config, OptionCriticConfig):
            raise TypeError(
                f"config must be an OptionCriticConfig, got {type(config).__name__}"
            )
        if config.env_steps > MAX_ENV_STEPS:
            raise ValueError(f"env_steps must be at most {MAX_ENV_STEPS}")
        self.config, self.seed = config, config.seed
        self.num_chunks = config.chunks
        self.updates_per_chunk = config.env_steps // (config.num_steps * config.chunks)
        self.env, self.base_params = _env(config.fail_prob, config.max_steps_in_episode)
        self.learners, self.hparams = {}, {}
        for method in config.methods:
            learner, hparams = config.learner_of(method, self.env)
            self.learners[method["name"]] = learner
            self.hparams[method["name"]] = hparams
        self.new_goals = new_goal_cells(jax.random.key(config.seed), config.trials)
        self.optimal = {
            "before": float(self._mean_optimum(HALLWAY_GOAL)),
            "after": float(
                np.mean([self._mean_optimum(tuple(CELLS[c])) for c in self.new_goals])
            ),
        }
        self.seconds = {}  # method -> {chunk: wall seconds}
        self.host = None

    def _mean_optimum(self, goal) -> float:
        """Optimal expected steps to `goal`, mean over uniform starts."""
        return _mean_optimum(int(CELL_INDEX[goal]), self.config.fail_prob)

    def env_params(self, size: int):
        """Per-trial env params, leaves [size] (padding repeats the last)."""
        count = self.config.trials
        goals = jnp.asarray(CELLS[self.new_goals], jnp.int32)  # [trials, 2]
        params = jax.tree_util.tree_map(
            lambda x: jnp.broadcast_to(jnp.asarray(x), (count, *jnp.shape(x))),
            self.base_params,
        ).replace(
            new_goal=goals,
            switch_after=jnp.full((count,), self.config.switch_after, jnp.int32),
        )
        return pad_population(params, count, size)

    def init(self, key, mesh):
        """Every method's agents started, and empty episode records."""
        count = self.config.trials
        size = padded_size(count, mesh)
        keys = pad_population(jax.random.split(key, count), count, size)
        population = {}
        for name, learner in self.learners.items():
            hparams = jax.tree_util.tree_map(
                lambda x: jnp.full((size,), x), self.hparams[name]
            )
            members = start_members_jit(
                learner, keys, hparams, self.env_params(size), True
            )
            record = {
                "length": jnp.zeros((size, self.config.episodes), jnp.int32),
                "start": jnp.zeros((size, self.config.episodes), jnp.int32),
                "count": jnp.zeros(size, jnp.int32),
            }
            population[name] = {"members": members, "record": record}
        return driver.place_state({"population": population, "shared": {}}, mesh)

    def step(self, key, state, chunk: int, mesh):
        """`env_steps / chunks` more env steps of every agent of every method."""
        population, outputs = dict(state["population"]), {}
        count = self.config.trials
        size = jax.tree_util.tree_leaves(population)[0].shape[0]
        env_params = self.env_params(size)
        last = chunk + 1 == self.num_chunks
        for name, learner in self.learners.items():
            began = time.perf_counter()
            slot = population[name]
            members, metrics = train_members(
                learner,
                slot["members"],
                env_params,
                chunk * self.updates_per_chunk,
                self.updates_per_chunk,
                True,
            )
            record = record_episodes_jit(
                slot["record"],
                metrics["train/ended_length"],
                metrics["train/ended_start"],
            )
            population[name] = {"members": members, "record": record}
            out = {
                "length": record["length"][:count],
                "count": record["count"][:count],
                "failure": members["failure"]["code"][:count],
            }
            if last and getattr(learner, "num_options", 1) > 1:
                states = jax.tree_util.tree_map(lambda x: x[:count], members["learner"])
                out["beta"] = jax.vmap(learner.termination_probabilities)(states)
            jax.block_until_ready(out)
            self.seconds.setdefault(name, {})[chunk] = time.perf_counter() - began
            outputs[name] = out
        state = {"population": population, "shared": state["shared"]}
        return driver.place_state(state, mesh), outputs

    def result_rows(self, host) -> list[dict]:
        """One row per (method, trial)."""
        return host["results"]

    def summary(self, rows, top: int = 5) -> str:
        return report_mod.table(self, self.host)
