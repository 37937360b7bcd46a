"""MAXQ-Q against flat Q-learning on Taxi (Dietterich 2000's Taxi learning
curves) on the run layer: every method's `trials` agents train as one
vmapped group, chunk by chunk; after each chunk every agent's greedy policy
is evaluated exactly, from each of Taxi's 300 start states (Taxi is
deterministic), against the optimal values of value iteration.

A method reaches the optimum at the first chunk where its greedy policy's
return equals the optimal one from every start state; its episodes to the
optimum are the training episodes finished by then (censored if never).
Evaluation episodes stop after `eval_steps` steps (default 30; the longest
optimal episode takes 18), so a policy that loops scores low, never
forever. A MAXQ agent is evaluated as it executes, with its stack of
subtasks (`MAXQ.greedy_return`); a flat agent by its greedy action in each
state. Files
(`run.maxq_report`): curves.csv, results.csv, table.md, maxq_taxi.png.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxmeta.envs import make, taxi
from jaxmeta.learners import hparams_with
from jaxmeta.learners.base import check_hparams
from jaxmeta.learners.registry import make_learner
from jaxmeta.run import driver
from jaxmeta.run import maxq_report as report_mod
from jaxmeta.run.config import dataclass_from_dict
from jaxmeta.run.method_groups import (
    checked_method_tables,
    start_methods,
    train_methods,
)
from jaxmeta.run.population import MAX_ENV_STEPS
from jaxmeta.run.results import check_run_name
from jaxmeta.validation import coerce

LEARNERS = ("maxq", "qlearning", "sarsa")
METHOD_FIELDS = ("name", "learner", "learner_config", "hparams")
DEFAULT_METHODS = (
    {"name": "maxq", "learner": "maxq"},
    {"name": "maxq-no-all-states", "learner": "maxq",
     "learner_config": {"all_states_updating": False}},
    {"name": "flat-q", "learner": "qlearning"},
)  # fmt: skip
# The paper's undiscounted Taxi; one rate and exploration for every method.
DEFAULT_HPARAMS = {"learning_rate": 0.25, "gamma": 1.0, "eps_start": 0.1,
                   "eps_end": 0.1}  # fmt: skip


def optimal_values() -> np.ndarray:
    """V*(s) [500] of undiscounted Taxi (value iteration, exact)."""
    states = jnp.arange(taxi.NUM_STATES, dtype=jnp.int32)
    outcomes = [taxi.transition(states, jnp.full_like(states, a)) for a in range(6)]
    nxt, reward, ends = (
        np.stack([np.asarray(o[k]) for o in outcomes], 1) for k in range(3)
    )
    values = np.zeros(taxi.NUM_STATES)
    for _ in range(100):  # optimal episodes take < 30 steps
        values = np.max(reward + np.where(ends, 0.0, values[nxt]), axis=1)
    return values


@dataclasses.dataclass(frozen=True)
class MAXQConfig:
    """`methods` x `trials` agents on Taxi-v3, `updates` updates of
    `num_steps` env steps each, in `chunks` chunks (a greedy evaluation
    after each). `hparams` are every method's, under its own table's."""

    name: str
    methods: tuple[dict, ...] = DEFAULT_METHODS
    trials: int = 30
    updates: int = 150
    num_steps: int = 1000
    chunks: int = 15
    eval_steps: int = 30
    hparams: dict = dataclasses.field(default_factory=lambda: dict(DEFAULT_HPARAMS))
    seed: int = 0

    KIND = "maxq"

    def __post_init__(self):
        check_run_name(self.name)
        for field in ("trials", "updates", "num_steps", "chunks", "eval_steps"):
            if coerce(field, getattr(self, field), int) < 1:
                raise ValueError(f"{field} must be >= 1, got {getattr(self, field)!r}")
        if self.updates % self.chunks:
            raise ValueError(
                f"chunks ({self.chunks}) must divide updates ({self.updates})"
            )
        if self.updates * self.num_steps > MAX_ENV_STEPS:
            raise ValueError(f"updates x num_steps must be at most {MAX_ENV_STEPS}")
        coerce("seed", self.seed, int)
        why = "one env a trial, and num_steps is the experiment's"
        checked = checked_method_tables(
            self.methods, METHOD_FIELDS, LEARNERS, {"num_envs", "num_steps", "env"}, why
        )
        object.__setattr__(self, "methods", checked)

    @classmethod
    def from_dict(cls, values: dict):
        return dataclass_from_dict(cls, values, "maxq config", required=("name",))

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["methods"] = list(self.methods)
        return out


def _greedy_returns(learner, state, env, env_params, starts, steps: int):
    """Returns [starts] of one agent's greedy policy from each start state."""

    def episode(s0):
        start = taxi.TaxiState(state=s0, time=jnp.int32(0))
        if hasattr(learner, "greedy_return"):  # MAXQ: its stack of subtasks
            return learner.greedy_return(state, start, env_params, steps)

        def body(carry, _):
            env_state, done, ret = carry
            obs = env.get_obs(env_state)
            action = learner.act(jax.random.key(0), state, obs[None], True)[0]
            _, nxt, reward, ends, _ = env.step_env(
                jax.random.key(0), env_state, action, env_params
            )
            ret = ret + jnp.where(done, 0.0, reward)
            return (nxt, done | ends, ret), None

        init = (start, jnp.asarray(False), jnp.float32(0.0))
        (_, _, ret), _ = jax.lax.scan(body, init, None, steps)
        return ret

    return jax.vmap(episode)(starts)


_greedy_jit = jax.jit(
    jax.vmap(_greedy_returns, in_axes=(None, 0, None, None, None, None)),
    static_argnums=(0, 2, 5),
)


class MAXQExperiment(driver.ReportedBy):
    """The experiment on the driver (kind "maxq")."""

    kind = "maxq"
    headline = "done"
    report_module = report_mod

    def __init__(self, config: MAXQConfig):
        if not isinstance(config, MAXQConfig):
            raise TypeError(f"config must be a MAXQConfig, got {type(config).__name__}")
        self.config, self.seed = config, config.seed
        self.env, self.env_params = make("Taxi-v3")
        self.learners, self.hparams = {}, {}
        for i, method in enumerate(config.methods):
            where = f"methods[{i}]"
            learner = make_learner(
                method["learner"], self.env, num_envs=1,
                num_steps=config.num_steps, **method["learner_config"],
            )  # fmt: skip
            hparams = hparams_with(
                learner.default_hparams(), **{**config.hparams, **method["hparams"]}
            )
            check_hparams(learner, hparams, f"{where}.hparams")
            self.learners[method["name"]] = learner
            self.hparams[method["name"]] = hparams
        self.num_chunks = config.chunks
        self.updates_per_chunk = config.updates // config.chunks
        self.starts = jnp.asarray(taxi.initial_state_support())
        self.optimal = optimal_values()[np.asarray(self.starts)]

    def init(self, key, mesh):
        """Every method's `trials` agents started (trial i: the same key in
        every method)."""
        env_params = {name: self.env_params for name in self.learners}
        return start_methods(
            key, self.learners, self.hparams, env_params, self.config.trials, mesh
        )

    def step(self, key, state, chunk: int, mesh):
        """`updates / chunks` updates of every agent, then greedy returns."""

        def evaluate(name, learner, states):
            greedy = _greedy_jit(
                learner, states, self.env, self.env_params, self.starts,
                self.config.eval_steps,
            )  # fmt: skip
            return {"greedy": greedy}

        upc = self.updates_per_chunk
        env_params = {name: self.env_params for name in self.learners}
        return train_methods(
            state, self.learners, env_params, chunk * upc, upc, self.config.trials,
            evaluate,
        )  # fmt: skip
