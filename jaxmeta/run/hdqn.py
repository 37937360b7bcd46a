"""h-DQN against flat Q-learning and flat DQN on Kulkarni et al. (2016)'s
stochastic decision process (Section 4.1, Figures 3 and 4) on the run
layer: every method's `trials` agents train as one vmapped group (one env
each), chunk by chunk.

After each chunk the curves get, per agent: the mean extrinsic reward of
the training episodes finished in the chunk (the paper's Figure 3), and,
from `eval_episodes` fresh episodes of its current exploring policy (as it
trains: epsilon-greedy, h-DQN with its subgoals), the visits of each state
per episode (Figure 4: s3..s6), plus the reward of its greedy policy.
Every method shares one epsilon schedule, 1 to 0.1 over `eps_decay_steps`
env steps (the paper's: 50,000); tabular Q-learning's schedule counts
episodes, so it falls over `eps_decay_steps / 2` episodes (2 steps: the
mean episode of the uniform policy from s2). Files (`run.hdqn_report`):
curves.csv, results.csv, table.md, hdqn_chain.png.
"""

import dataclasses

import jax
import jax.numpy as jnp

from jaxmeta.envs import make
from jaxmeta.envs.stochastic_chain import NUM_STATES, optimal_expected_reward
from jaxmeta.learners import hparams_with
from jaxmeta.learners.base import check_hparams
from jaxmeta.learners.common.tabular import state_index
from jaxmeta.learners.registry import make_learner
from jaxmeta.run import driver
from jaxmeta.run import hdqn_report as report_mod
from jaxmeta.run.config import dataclass_from_dict
from jaxmeta.run.method_groups import (
    checked_method_tables,
    start_methods,
    train_methods,
)
from jaxmeta.run.population import MAX_ENV_STEPS
from jaxmeta.run.results import check_run_name
from jaxmeta.validation import coerce

LEARNERS = ("hdqn", "qlearning", "dqn")
OBS_MODE = {"hdqn": "one_hot", "qlearning": "index", "dqn": "one_hot"}
METHOD_FIELDS = ("name", "learner", "learner_config", "hparams")
NETS = {"hidden": (32,), "batch_size": 32, "learning_starts": 1000}
DEFAULT_METHODS = (
    {"name": "h-dqn", "learner": "hdqn",
     "learner_config": {**NETS, "target_update_every": 10},
     "hparams": {"learning_rate": 1e-3}},
    {"name": "flat-q", "learner": "qlearning", "hparams": {"learning_rate": 0.1}},
    {"name": "flat-dqn", "learner": "dqn",
     "learner_config": {**NETS, "target_update_every": 10},
     "hparams": {"learning_rate": 1e-3}},
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class HDQNConfig:
    """`methods` x `trials` agents on StochasticChain-v0, `updates`
    updates of `num_steps` env steps (one env an agent) in `chunks`
    chunks; `gradient_steps` TD steps per update for the network methods;
    `gamma` and the epsilon schedule shared by every method."""

    name: str
    methods: tuple[dict, ...] = DEFAULT_METHODS
    trials: int = 30
    updates: int = 600
    num_steps: int = 100
    chunks: int = 30
    gradient_steps: int = 25
    eps_decay_steps: int = 50_000
    gamma: float = 0.99
    eval_episodes: int = 100
    max_steps_in_episode: int = 100
    seed: int = 0

    KIND = "hdqn"

    def __post_init__(self):
        check_run_name(self.name)
        for field in ("trials", "updates", "num_steps", "chunks", "gradient_steps",
                      "eps_decay_steps", "eval_episodes",
                      "max_steps_in_episode"):  # fmt: skip
            if coerce(field, getattr(self, field), int) < 1:
                raise ValueError(f"{field} must be >= 1, got {getattr(self, field)!r}")
        if self.updates % self.chunks:
            raise ValueError(
                f"chunks ({self.chunks}) must divide updates ({self.updates})"
            )
        if self.updates * self.num_steps > MAX_ENV_STEPS:
            raise ValueError(f"updates x num_steps must be at most {MAX_ENV_STEPS}")
        if not 0.0 <= coerce("gamma", self.gamma, float) <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {self.gamma!r}")
        coerce("seed", self.seed, int)
        fixed = {"num_envs", "num_steps", "env", "gradient_steps", "total_timesteps"}
        why = ("one env an agent; num_steps, gradient_steps and the schedule's "
               "length are the experiment's")  # fmt: skip
        checked = checked_method_tables(
            self.methods, METHOD_FIELDS, LEARNERS, fixed, why
        )
        object.__setattr__(self, "methods", checked)

    @classmethod
    def from_dict(cls, values: dict):
        return dataclass_from_dict(cls, values, "hdqn config", required=("name",))

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["methods"] = list(self.methods)
        return out


def _schedule(config: HDQNConfig, learner: str) -> tuple[dict, dict]:
    """(learner_config, hparams) of the shared gamma and epsilon schedule."""
    eps = {"eps_start": 1.0, "eps_end": 0.1, "gamma": config.gamma}
    steps = config.updates * config.num_steps
    if learner == "qlearning":
        return {}, {**eps, "eps_decay_episodes": config.eps_decay_steps / 2}
    static = {"gradient_steps": config.gradient_steps}
    if learner == "dqn":
        fraction = min(1.0, config.eps_decay_steps / steps)
        return {**static, "total_timesteps": steps}, {
            **eps,
            "eps_decay_fraction": fraction,
        }
    return static, {**eps, "eps_decay_steps": float(config.eps_decay_steps)}


def episodes_of(learner, state, env, env_params, key, episodes, steps, greedy):
    """Rewards [episodes] and state visits [episodes, 6] (states arrived
    in) of one agent's policy over fresh episodes of at most `steps` steps:
    exploring as in training, or `greedy`. h-DQN keeps its subgoal until
    reached or the episode ends."""
    hierarchical = hasattr(learner, "choose_goal")

    def one(key):
        key_reset, key_goal, key_run = jax.random.split(key, 3)
        obs, env_state = env.reset(key_reset, env_params)
        goal = jnp.int32(0)
        if hierarchical:
            goal = learner.choose_goal(key_goal, state, obs.reshape(1, -1), greedy)[0]

        def body(carry, key):
            obs, env_state, goal, done, total, visits = carry
            key_goal, key_act, key_env = jax.random.split(key, 3)
            batch = obs.reshape(1, -1)
            if hierarchical:
                action = learner.act_for_goal(key_act, state, batch, goal[None], greedy)
            else:
                action = learner.act(key_act, state, batch, greedy)
            obs, env_state, reward, term, trunc, info = env.step(
                key_env, env_state, action[0], env_params
            )
            final = info["final_observation"].reshape(1, -1)
            where = final.argmax(-1) if final.shape[-1] > 1 else state_index(final)
            visits = visits + jnp.where(done, 0.0, jax.nn.one_hot(where[0], NUM_STATES))
            total = total + jnp.where(done, 0.0, reward)
            if hierarchical:
                reached = where[0] == jnp.asarray(learner.subgoals)[goal]
                fresh = learner.choose_goal(key_goal, state, obs.reshape(1, -1), greedy)
                goal = jnp.where(reached, fresh[0], goal)
            return (obs, env_state, goal, done | term | trunc, total, visits), None

        init = (obs, env_state, goal, jnp.asarray(False), jnp.float32(0.0),
                jnp.zeros(NUM_STATES))  # fmt: skip
        carry, _ = jax.lax.scan(body, init, jax.random.split(key_run, steps))
        return carry[4], carry[5]

    return jax.vmap(one)(jax.random.split(key, episodes))


_episodes_jit = jax.jit(
    jax.vmap(episodes_of, in_axes=(None, 0, None, None, 0, None, None, None)),
    static_argnums=(0, 2, 5, 6, 7),
)


class HDQNExperiment(driver.ReportedBy):
    """The experiment on the driver (kind "hdqn")."""

    kind = "hdqn"
    headline = "done"
    report_module = report_mod

    def __init__(self, config: HDQNConfig):
        if not isinstance(config, HDQNConfig):
            raise TypeError(f"config must be a HDQNConfig, got {type(config).__name__}")
        self.config, self.seed = config, config.seed
        self.envs, self.learners, self.hparams = {}, {}, {}
        for i, method in enumerate(config.methods):
            where, kind = f"methods[{i}]", method["learner"]
            env, env_params = make(
                "StochasticChain-v0", obs_mode=OBS_MODE[kind],
                max_steps_in_episode=config.max_steps_in_episode,
            )  # fmt: skip
            static, numbers = _schedule(config, kind)
            learner = make_learner(
                kind, env, num_envs=1, num_steps=config.num_steps,
                **{**static, **method["learner_config"]},
            )  # fmt: skip
            hparams = hparams_with(
                learner.default_hparams(), **{**numbers, **method["hparams"]}
            )
            check_hparams(learner, hparams, f"{where}.hparams")
            self.envs[method["name"]] = (env, env_params)
            self.learners[method["name"]] = learner
            self.hparams[method["name"]] = hparams
        self.num_chunks = config.chunks
        self.updates_per_chunk = config.updates // config.chunks
        self.optimal = optimal_expected_reward(0.5, config.max_steps_in_episode)

    def init(self, key, mesh):
        """Every method's `trials` agents started (trial i: the same key in
        every method)."""
        env_params = {name: env[1] for name, env in self.envs.items()}
        return start_methods(
            key, self.learners, self.hparams, env_params, self.config.trials, mesh
        )

    def step(self, key, state, chunk: int, mesh):
        """`updates / chunks` updates of every agent, then its evaluation
        episodes (exploring and greedy)."""
        c, upc = self.config, self.updates_per_chunk
        keys = jax.random.split(jax.random.fold_in(key, chunk), c.trials)

        def evaluate(name, learner, states):
            env, env_params = self.envs[name]
            evals = {
                greedy: _episodes_jit(
                    learner,
                    states,
                    env,
                    env_params,
                    keys,
                    c.eval_episodes,
                    c.max_steps_in_episode,
                    greedy,
                )  # fmt: skip
                for greedy in (False, True)
            }
            return {
                "eval_reward": evals[False][0].mean(axis=1),
                "visits": evals[False][1].mean(axis=1),  # [trials, 6]
                "greedy_reward": evals[True][0].mean(axis=1),
            }

        env_params = {name: env[1] for name, env in self.envs.items()}
        return train_methods(
            state, self.learners, env_params, chunk * upc, upc, c.trials, evaluate
        )
