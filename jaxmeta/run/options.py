"""The Four Rooms options experiment (seeds/001; Sutton, Precup and Singh
1999) on the run layer: flat Q-learning against SMDP Q-learning with the
hallway options (with and without the primitive actions) and intra-option
Q-learning, on a hallway goal and on a room goal the hallway options do
not lead to.

Every (goal, method) pair is a *group*: `trials` independent agents for
each of `learning_rates`, vmapped in one program (the learning rate is a
traced hyperparameter); trial i has the same key in every group. An agent
is a tabular learner with one env, learning online; each driver chunk
runs `env_steps / chunks` env steps of every agent and copies the length
and start cell of every episode that ended into a fixed [agents,
episodes] record in the state, so a checkpoint between chunks resumes
exactly. The host (`options_report`) measures each agent against the
optimum from value iteration and keeps each method's best learning rate.

Files: progress.csv (per chunk), results.csv (per agent), curves.csv
(steps per episode, mean and 95 % CI over trials, per group and rate),
table.md, optimal.json, curves_<goal>.png.
"""

import dataclasses
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxmeta.envs import make
from jaxmeta.envs.four_rooms import CELL_INDEX
from jaxmeta.learners.base import hparams_with
from jaxmeta.learners.registry import make_learner
from jaxmeta.run import driver, options_report
from jaxmeta.run.options_config import OptionsConfig, optimal_steps
from jaxmeta.run.population import MAX_ENV_STEPS, start_members_jit, train_members
from jaxmeta.run.sharding import pad_population, padded_size


@dataclasses.dataclass(frozen=True)
class Group:
    goal: tuple  # (row, col)
    method: dict
    learner: object
    env_params: object

    @property
    def key(self) -> str:
        return f"{self.goal[0]},{self.goal[1]}/{self.method['name']}"


@functools.cache
def _four_rooms():
    """The Four Rooms env object (stateless: every task is in env_params)."""
    return make("FourRooms-options")[0]


def record_episodes(record, lengths, starts):
    """Append the episodes that ended in a chunk to the record. record:
    {"length", "start": [M, E] int32, "count": [M] int32 (episodes ended,
    uncapped)}; lengths, starts: [M, updates, steps, 1] (0: none ended)."""
    size = record["length"].shape[1]

    def one(length, start, count, new_length, new_start):
        new_length, new_start = new_length.reshape(-1), new_start.reshape(-1)
        ended = new_length > 0
        slot = count + jnp.cumsum(ended, dtype=jnp.int32) - 1
        slot = jnp.where(ended, slot, size)  # out of range: dropped
        length = length.at[slot].set(new_length, mode="drop")
        start = start.at[slot].set(new_start, mode="drop")
        return length, start, count + jnp.sum(ended, dtype=jnp.int32)

    length, start, count = jax.vmap(one)(
        record["length"], record["start"], record["count"], lengths, starts
    )
    return {"length": length, "start": start, "count": count}


record_episodes_jit = jax.jit(record_episodes, donate_argnums=(0,))


class OptionsExperiment:
    kind = "options"
    headline = "done"

    def __init__(self, config: OptionsConfig):
        if not isinstance(config, OptionsConfig):
            raise TypeError(
                f"config must be an OptionsConfig, got {type(config).__name__}"
            )
        self.config, self.seed = config, config.seed
        self.num_chunks = config.chunks
        self.updates_per_chunk = config.env_steps // (config.num_steps * config.chunks)
        if config.env_steps > MAX_ENV_STEPS:
            raise ValueError(f"env_steps must be at most {MAX_ENV_STEPS}")
        options = dict(
            max_steps_in_episode=config.max_steps_in_episode,
            fail_prob=config.fail_prob,
        )
        # One env object for every goal (the goal is in env_params, traced)
        # and every experiment in this process (learners compare their env
        # by identity): each method compiles once, also when resumed.
        env = _four_rooms()
        learners = {}
        for method in config.methods:
            extra = {"options": method["options"]} if "options" in method else {}
            learners[method["name"]] = make_learner(
                method["learner"],
                env,
                num_envs=1,
                num_steps=config.num_steps,
                record_episodes=True,
                **extra,
            )
        self.groups, self.optimal = [], {}
        for goal in config.goals:
            _, env_params = make("FourRooms-options", goal=goal, **options)
            cell = int(CELL_INDEX[goal])
            steps = {"primitive": optimal_steps(cell, config.fail_prob)}
            for method in config.methods:
                name = method.get("options", "primitive")
                if name not in steps:
                    steps[name] = optimal_steps(cell, config.fail_prob, name)
                learner = learners[method["name"]]
                self.groups.append(Group(goal, method, learner, env_params))
            self.optimal[goal] = steps
        self.members = config.trials * len(config.learning_rates)
        self.seconds = {}  # group key -> {chunk: wall seconds}
        self.host = None  # the latest host record (for `summary`)

    def config_dict(self) -> dict:
        return self.config.to_dict()

    def hparams_of(self, group: Group):
        """Hparams of a group's agents, leaves [members]: rate j for agents
        j * trials ... (j + 1) * trials - 1."""
        config = self.config
        base = hparams_with(
            group.learner.default_hparams(), **config.hparams_of(group.method)
        )
        hparams = jax.tree_util.tree_map(lambda x: jnp.full((self.members,), x), base)
        rates = np.repeat(np.asarray(config.learning_rates, np.float32), config.trials)
        return hparams.replace(learning_rate=jnp.asarray(rates))

    def init(self, key, mesh):
        """Every group's agents started, and empty episode records."""
        size = padded_size(self.members, mesh)
        episodes = self.config.episodes
        population = {}
        rates = len(self.config.learning_rates)
        for group in self.groups:
            goal = self.config.goals.index(group.goal)
            trials = jax.random.split(jax.random.fold_in(key, goal), self.config.trials)
            keys = jnp.tile(jax.random.key_data(trials), (rates, 1))
            members = {
                "hparams": pad_population(self.hparams_of(group), self.members, size),
                "keys": pad_population(keys, self.members, size),
            }
            placed = driver.place_state({"population": members, "shared": {}}, mesh)
            members = placed["population"]
            started = start_members_jit(
                group.learner,
                jax.random.wrap_key_data(members["keys"]),
                members["hparams"],
                group.env_params,
                False,
            )
            record = {
                "length": jnp.zeros((size, episodes), jnp.int32),
                "start": jnp.zeros((size, episodes), jnp.int32),
                "count": jnp.zeros(size, jnp.int32),
            }
            population[group.key] = {"members": started, "record": record}
        # Placed as a restored checkpoint is, so every chunk's programs see
        # the same shardings (one compile each, also after a resume).
        return driver.place_state({"population": population, "shared": {}}, mesh)

    def step(self, key, state, chunk: int, mesh):
        """`env_steps / chunks` more env steps of every agent of every group."""
        population, outputs = dict(state["population"]), {}
        for group in self.groups:
            began = time.perf_counter()
            slot = population[group.key]
            members, metrics = train_members(
                group.learner,
                slot["members"],
                group.env_params,
                chunk * self.updates_per_chunk,
                self.updates_per_chunk,
            )
            record = record_episodes_jit(
                slot["record"],
                metrics["train/ended_length"],
                metrics["train/ended_start"],
            )
            population[group.key] = {"members": members, "record": record}
            count = self.members
            out = {
                "length": record["length"][:count],
                "start": record["start"][:count],
                "count": record["count"][:count],
                "failure": members["failure"]["code"][:count],
            }
            jax.block_until_ready(out)
            # Wall time of the group's chunk (the first compiles), for the table.
            spent = time.perf_counter() - began
            self.seconds.setdefault(group.key, {})[chunk] = spent
            outputs[group.key] = out
        state = {"population": population, "shared": state["shared"]}
        return driver.place_state(state, mesh), outputs

    def host_init(self) -> dict:
        return options_report.empty_host(self)

    def report(self, chunk, outputs, host, sink):
        return options_report.report(self, chunk, outputs, host, sink)

    def refresh(self, host, sink) -> None:
        options_report.refresh(self, host, sink)

    def result_rows(self, host) -> list[dict]:
        """One row per agent (goal, method, learning rate, trial)."""
        return host["results"]

    def summary(self, rows, top: int = 5) -> str:
        return options_report.table(self, self.host)
