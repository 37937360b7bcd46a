"""RL^2 trials (Duan et al., 2016): many episodes of one task, with feedback.

`RL2Trials(env, tasks, episodes_per_trial)` is itself a gymnax env whose
"episode" is a *trial*: ``episodes_per_trial`` consecutive episodes of the
inner env on one task drawn by ``tasks.sample(key)``. Inner episodes restart by
the inner env's own auto-reset (same task); when the last one ends, the trial
ends (``terminated``/``truncated`` as that last episode ended), and gymnax's
auto-reset starts the next trial with a fresh task. So a recurrent learner
resets its memory exactly at trial boundaries.

The observation is ``[inner_obs_dim + action_dim + 2]``: the inner observation
(flattened), then the previous action (one-hot for a discrete action space),
the previous reward and the previous done flag (1.0 when the previous step
ended an inner episode); all three feedback parts are zero at a trial's start.
``info`` carries the trial structure: ``episode_in_trial`` (index of the
episode the step was taken in), ``episode_done``, ``trial_done``.
"""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces


@struct.dataclass
class RL2State(environment.EnvState):
    env_state: Any  # the inner env's state
    task: Any  # env_params of this trial
    episode: jax.Array  # [] int32, episodes finished in this trial
    prev_action: jax.Array  # [action_dim] float32
    prev_reward: jax.Array  # [] float32
    prev_done: jax.Array  # [] float32
    trial_truncated: jax.Array  # [] bool, the trial ended by the last truncation
    time: int  # steps taken in this trial


@struct.dataclass
class RL2Params(environment.EnvParams):
    # Informational: the trial's longest length. Trials end by counting episodes.
    max_steps_in_episode: int = 1


class RL2Trials(environment.Environment[RL2State, RL2Params]):
    """Trial wrapper around `env` with tasks from `tasks` (``sample(key)``)."""

    def __init__(self, env: environment.Environment, tasks, episodes_per_trial: int):
        super().__init__()
        if not isinstance(env, environment.Environment):
            raise ValueError(f"env must be a gymnax Environment, got {type(env)}")
        if not callable(getattr(tasks, "sample", None)):
            raise ValueError("tasks must have a sample(key) -> env_params method")
        if not (isinstance(episodes_per_trial, int) and episodes_per_trial >= 1):
            raise ValueError(
                f"episodes_per_trial must be an int >= 1, got {episodes_per_trial!r}"
            )
        self.env = env
        self.tasks = tasks
        self.episodes_per_trial = episodes_per_trial
        inner_params = env.default_params
        action_space = env.action_space(inner_params)
        self.discrete = isinstance(action_space, spaces.Discrete)
        if self.discrete:
            self.action_dim = int(action_space.n)
        else:
            self.action_dim = int(np.prod(action_space.shape))
        obs_shape = env.observation_space(inner_params).shape
        self.inner_obs_dim = int(np.prod(obs_shape))
        self.obs_dim = self.inner_obs_dim + self.action_dim + 2

    @property
    def default_params(self) -> RL2Params:
        inner_steps = int(self.env.default_params.max_steps_in_episode)
        return RL2Params(max_steps_in_episode=self.episodes_per_trial * inner_steps)

    def _action_feature(self, action) -> jax.Array:
        if self.discrete:
            return jax.nn.one_hot(action, self.action_dim, dtype=jnp.float32)
        return jnp.reshape(action, (self.action_dim,)).astype(jnp.float32)

    def _observe(self, inner_obs, prev_action, prev_reward, prev_done):
        return jnp.concatenate(
            [
                jnp.reshape(inner_obs, (self.inner_obs_dim,)).astype(jnp.float32),
                prev_action,
                jnp.reshape(prev_reward, (1,)),
                jnp.reshape(prev_done, (1,)),
            ]
        )

    def step_env(self, key, state, action, params):
        """One inner step on the trial's task. Returns obs ``[obs_dim]``."""
        inner_obs, env_state, reward, terminated, truncated, inner_info = self.env.step(
            key, state.env_state, action, state.task
        )
        episode_done = jnp.logical_or(terminated, truncated)
        episode = state.episode + episode_done.astype(jnp.int32)
        trial_done = episode >= self.episodes_per_trial
        prev_action = self._action_feature(action)
        prev_reward = jnp.asarray(reward, jnp.float32)
        prev_done = episode_done.astype(jnp.float32)
        new_state = RL2State(
            env_state=env_state,
            task=state.task,
            episode=episode,
            prev_action=prev_action,
            prev_reward=prev_reward,
            prev_done=prev_done,
            trial_truncated=jnp.logical_and(trial_done, jnp.logical_not(terminated)),
            time=state.time + 1,
        )
        obs = self._observe(inner_obs, prev_action, prev_reward, prev_done)
        info = {
            "episode_in_trial": state.episode,
            "episode_done": episode_done,
            "trial_done": trial_done,
            "inner": inner_info,
        }
        return obs, new_state, reward, jnp.logical_and(trial_done, terminated), info

    def reset_env(self, key, params):
        """Start a trial: draw a task, reset the inner env on it."""
        key_task, key_reset = jax.random.split(key)
        task = self.tasks.sample(key_task)
        inner_obs, env_state = self.env.reset(key_reset, task)
        state = RL2State(
            env_state=env_state,
            task=task,
            episode=jnp.zeros((), jnp.int32),
            prev_action=jnp.zeros((self.action_dim,), jnp.float32),
            prev_reward=jnp.zeros((), jnp.float32),
            prev_done=jnp.zeros((), jnp.float32),
            trial_truncated=jnp.array(False),
            time=0,
        )
        obs = self._observe(
            inner_obs, state.prev_action, state.prev_reward, state.prev_done
        )
        return obs, state

    def is_truncated(self, state, params):
        return state.trial_truncated

    @property
    def name(self) -> str:
        return f"RL2-{self.env.name}"

    @property
    def num_actions(self) -> int:
        return self.env.num_actions

    def action_space(self, params=None):
        return self.env.action_space(self.env.default_params)

    def observation_space(self, params=None) -> spaces.Box:
        return spaces.Box(-jnp.inf, jnp.inf, (self.obs_dim,), jnp.float32)
