"""The scaffolding of the tabular learners: static config, state, the
online step loop and the update's metrics (pieces in `tabular.py`).

A tabular learner keeps one table `q: [num_states, num_choices]` (choices
are actions, or options) and learns online, one TD update per env step.
Each update steps `num_envs` envs for `num_steps`. A learner supplies two
pure functions of one step, vectorised over the envs:

    choose(words [N, 4], q, carry, epsilon) -> action [N]
    learn(words [N, 4], q, carry, step, epsilon) -> (q, agent, td [N], count [N])

`words` are the step's uint32 random words, four per env: `choose` may
use words 0-1 and `learn` words 2-3, or all of them when `choose` draws
none (options learners); `step` is the transition (`Step`); `agent` the
learner's per-env carry (`TabularCarry.agent`) for the next step; `td` the
summed absolute TD errors of the env's table updates and `count` how many
it made.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxmeta.learners.base import check_positive_ints
from jaxmeta.learners.common.finish import finish_update
from jaxmeta.learners.common.on_policy import float32_defaults
from jaxmeta.learners.common.tabular import (
    HPARAM_DOMAINS,
    TabularHParams,
    epsilon_at,
    epsilon_greedy_masked,
    greedy_masked,
    state_index,
    tabular_sizes,
)


@struct.dataclass
class TabularCarry:
    obs: jax.Array  # [N] int32 state index
    env_state: object  # leaves [N, ...]
    episode_return: jax.Array  # [N] float32, of the running episode
    episode_length: jax.Array  # [N] int32
    episode_start: jax.Array  # [N] int32, the running episode's first state
    agent: dict  # the learner's own per-env arrays, leaves [N]


@struct.dataclass
class TabularState:
    params: dict  # {"q": [num_states, num_choices] float32}
    env: TabularCarry
    episodes: jax.Array  # [] int32, episodes finished over all envs
    epsilon: jax.Array  # [] float32, the latest step's (what `act` uses)
    update_count: jax.Array  # [] int32
    diverged: jax.Array  # [] bool


@struct.dataclass
class Step:
    obs: jax.Array  # [N] state acted in
    action: jax.Array  # [N] primitive action taken
    reward: jax.Array  # [N] float32
    final_obs: jax.Array  # [N] state the step ended in (before any reset)
    next_obs: jax.Array  # [N] state the next step acts in (after a reset)
    terminated: jax.Array  # [N] bool
    truncated: jax.Array  # [N] bool, time limit and not terminated
    done: jax.Array  # [N] bool


def init_carry(key, env, env_params, num_envs: int, agent: dict) -> TabularCarry:
    """`num_envs` reset envs and the learner's per-env `agent` arrays."""
    keys = jax.random.split(key, num_envs)
    obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(keys, env_params)
    obs = state_index(obs)
    zeros = jnp.zeros(num_envs, jnp.int32)
    return TabularCarry(
        obs, env_state, jnp.zeros(num_envs, jnp.float32), zeros, obs, agent
    )


def run_steps(key, env, env_params, state: TabularState, hparams, num_steps, fns):
    """Step `num_envs` envs `num_steps` times, learning every step.

    fns: `(choose, learn)` as in the module docstring. Returns `(q, carry,
    episodes, epsilon, out)`; out holds `[num_steps, N]` arrays: the return,
    length and first state of each episode that ended at that step (0
    elsewhere), `done`, `td` and `count`, and `finite` ([num_steps] bool).
    """
    choose, learn = fns
    num_envs = state.env.obs.shape[0]

    def body(carry, randomness):
        q, env_carry, episodes = carry
        env_keys, words = randomness
        epsilon = epsilon_at(hparams, episodes, num_envs)
        action = choose(words, q, env_carry, epsilon)
        obs, env_state, reward, terminated, truncated, info = jax.vmap(
            env.step, in_axes=(0, 0, 0, None)
        )(env_keys, env_carry.env_state, action, env_params)
        reward = reward.astype(jnp.float32)
        done = jnp.logical_or(terminated, truncated)
        step = Step(
            env_carry.obs,
            action,
            reward,
            state_index(info["final_observation"]),
            state_index(obs),
            terminated,
            jnp.logical_and(truncated, ~terminated),
            done,
        )
        q, agent, td, count = learn(words, q, env_carry, step, epsilon)
        ret = env_carry.episode_return + reward
        length = env_carry.episode_length + 1
        new_carry = TabularCarry(
            step.next_obs,
            env_state,
            jnp.where(done, 0.0, ret),
            jnp.where(done, 0, length),
            jnp.where(done, step.next_obs, env_carry.episode_start),
            agent,
        )
        out = {
            "return": jnp.where(done, ret, 0.0),
            "length": jnp.where(done, length, 0),
            "start": jnp.where(done, env_carry.episode_start, 0),
            "done": done,
            "td": td,
            "count": count,
            "finite": jnp.all(jnp.isfinite(reward)),
        }
        episodes = episodes + jnp.sum(done, dtype=jnp.int32)
        return (q, new_carry, episodes), (out, epsilon)

    # Drawn for the whole update at once: a few large threefry calls
    # instead of several small ones per step.
    key_env, key_words = jax.random.split(key)
    env_keys = jax.random.split(key_env, (num_steps, num_envs))
    words = jax.random.bits(key_words, (num_steps, num_envs, 4), jnp.uint32)
    init = (state.params["q"], state.env, state.episodes)
    (q, carry, episodes), (out, epsilons) = jax.lax.scan(body, init, (env_keys, words))
    return q, carry, episodes, epsilons[-1], out


def tabular_update(learner, key, state: TabularState, hparams, env_params, fns):
    """One update of a tabular learner (`num_envs x num_steps` steps, one TD
    update each), guarded and reported by `finish_update`: `train/td_error`
    (mean |TD error| of the update's table updates, 0 if none),
    `train/epsilon`, and with `learner.record_episodes` the per-step
    `train/ended_length` and `train/ended_start` ([num_steps, num_envs]
    int32: the length and first state of each episode that ended at that
    step, 0 elsewhere). Returns `(state, metrics)`."""
    q, carry, episodes, epsilon, out = run_steps(
        key, learner.env, env_params, state, hparams, learner.num_steps, fns
    )
    done = out["done"].astype(jnp.float32)
    count = done.sum()
    safe = jnp.maximum(count, 1.0)
    stats = {
        "env_finite": jnp.all(out["finite"]),
        "episode_return": jnp.where(count > 0, out["return"].sum() / safe, np.nan),
        "episodes": count,
        "episode_length": jnp.where(
            count > 0, out["length"].sum().astype(jnp.float32) / safe, np.nan
        ),
    }
    updates = out["count"].sum().astype(jnp.float32)
    losses = {
        "td_error": out["td"].sum() / jnp.maximum(updates, 1.0),
        "epsilon": epsilon,
    }
    new_state = TabularState(
        {"q": q}, carry, episodes, epsilon, state.update_count + 1, state.diverged
    )
    state, metrics = finish_update(
        state, new_state, stats, losses, learner.steps_per_update
    )
    if learner.record_episodes:
        metrics["train/ended_length"] = out["length"].astype(jnp.int32)
        metrics["train/ended_start"] = out["start"].astype(jnp.int32)
    return state, metrics


@dataclasses.dataclass(frozen=True)
class TabularLearner:
    """Static config shared by the tabular learners: `env` (Discrete states
    and actions), `num_envs x num_steps` env steps per update, and
    `record_episodes` (report each ended episode's length and first state).
    A subclass sets `num_choices` and `_sizes` in `__post_init__` (via
    `_check_tabular`) and gives `_fns(hparams)`, `_agent_init` and, if its
    choices are not the actions, `_available` and `_action_of`."""

    env: object
    num_envs: int = 1
    num_steps: int = 64
    record_episodes: bool = False

    hparam_domains = HPARAM_DOMAINS

    def _check_tabular(self) -> tuple[int, int]:
        check_positive_ints(num_envs=self.num_envs, num_steps=self.num_steps)
        if not isinstance(self.record_episodes, bool):
            raise ValueError(
                f"record_episodes must be true or false, got {self.record_episodes!r}"
            )
        sizes = tabular_sizes(self.env, self.env.default_params, type(self).__name__)
        object.__setattr__(self, "_sizes", sizes)
        return sizes

    @property
    def num_states(self) -> int:
        return self._sizes[0]

    @property
    def num_actions(self) -> int:
        return self._sizes[1]

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.num_steps

    def default_hparams(self) -> TabularHParams:
        """Defaults as float32 scalars."""
        return float32_defaults(TabularHParams)

    def _available(self, s):
        """[N, num_choices] bool: the choices open in states `s: [N]`."""
        return jnp.ones((s.shape[0], self.num_choices), bool)

    def _action_of(self, choice, s):
        """The primitive action [N] of `choice: [N]` in `s: [N]`."""
        return choice

    def _agent_init(self, words, q, obs, epsilon) -> dict:
        return {}

    def init(self, key, hparams: TabularHParams, env_params) -> TabularState:
        """A table of `q_init`, `num_envs` reset envs, no episodes yet."""
        key_env, key_agent = jax.random.split(key)
        q = jnp.full((self.num_states, self.num_choices), hparams.q_init, jnp.float32)
        carry = init_carry(key_env, self.env, env_params, self.num_envs, {})
        epsilon = epsilon_at(hparams, jnp.int32(0), self.num_envs)
        words = jax.random.bits(key_agent, (self.num_envs, 2), jnp.uint32)
        agent = self._agent_init(words, q, carry.obs, epsilon)
        return TabularState(
            {"q": q},
            carry.replace(agent=agent),
            jnp.int32(0),
            jnp.asarray(epsilon, jnp.float32),
            jnp.int32(0),
            jnp.asarray(False),
        )

    def update(self, key, state: TabularState, hparams, env_params):
        """`num_steps` steps of every env, learning online (see
        `tabular_update` for the metrics)."""
        return tabular_update(self, key, state, hparams, env_params, self._fns(hparams))

    def act(self, key, state: TabularState, obs, deterministic: bool = False):
        """Actions `[N]` for state indices `obs: [N]` (or `[N, 1]`):
        epsilon-greedy over the choices open there with the state's epsilon,
        or the first greedy one when `deterministic`. A choice is made anew
        in every state (an option runs one step: interrupted execution)."""
        s = state_index(obs)
        q, mask = state.params["q"][s], self._available(s)
        if deterministic:
            choice = greedy_masked(q, mask)
        else:
            words = jax.random.bits(key, (s.shape[0], 2), jnp.uint32)
            choice = epsilon_greedy_masked(words, q, mask, state.epsilon)
        return self._action_of(choice, s)
