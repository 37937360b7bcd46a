"""Four Rooms whose goal moves after a number of episodes (the transfer
experiment of option-critic, Bacon, Harb and Precup 2017).

`FourRoomsSwitch` is `FourRoomsOptions` (same map, noise, rewards,
uniform starts, observations) whose state also counts the episodes that
have ended; every episode that starts after `switch_after` of them heads
for `new_goal` instead of `goal`. Both goals and the count are traced
env params, so each trial of a vmapped population can move its own goal
at its own 1000th episode, exactly, inside one compiled program.
"""

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments.misc.rooms import EnvState

from jaxmeta.envs.four_rooms import (
    DEFAULT_GOAL,
    FourRoomsOptions,
    FourRoomsParams,
    _check_cell,
)


@struct.dataclass
class SwitchState:
    inner: EnvState  # FourRoomsOptions' (pos, goal, time)
    episodes: jax.Array  # [] int32, episodes ended before this one


@struct.dataclass
class SwitchParams(FourRoomsParams):
    new_goal: jax.Array = struct.field(default_factory=lambda: jnp.array((10, 10)))
    switch_after: jax.Array = struct.field(default_factory=lambda: jnp.int32(1000))


class FourRoomsSwitch(FourRoomsOptions):
    """FourRoomsOptions with the goal moved to `new_goal` for every episode
    that starts once `switch_after` episodes have ended. Obs as its base."""

    @property
    def default_params(self) -> SwitchParams:
        return SwitchParams()

    @property
    def name(self) -> str:
        return "FourRooms-switch"

    def _params_for(self, params: SwitchParams, episodes):
        goal = jnp.where(episodes >= params.switch_after, params.new_goal, params.goal)
        return params.replace(goal=goal)

    def reset_env(self, key, params: SwitchParams):
        """The first episode (none ended yet)."""
        return self._reset(key, params, jnp.int32(0))

    def _reset(self, key, params, episodes):
        obs, inner = super().reset_env(key, self._params_for(params, episodes))
        return obs, SwitchState(inner, jnp.asarray(episodes, jnp.int32))

    def step(self, key, state: SwitchState, action, params: SwitchParams = None):
        """gymnax's `step` (auto-reset, `final_observation` in info), the new
        episode's goal chosen by the count of ended episodes."""
        if params is None:
            params = self.default_params
        key_step, key_reset = jax.random.split(key)
        obs_st, inner, reward, terminated, info = self.step_env(
            key_step, state.inner, action, params
        )
        truncated = self.is_truncated(inner, params)
        done = jnp.logical_or(terminated, truncated)
        episodes = state.episodes + done.astype(jnp.int32)
        obs_re, state_re = self._reset(key_reset, params, episodes)
        state_st = SwitchState(inner, episodes)
        new_state = jax.tree.map(
            lambda r, s: jax.lax.select(done, r, s), state_re, state_st
        )
        obs = jax.lax.select(done, obs_re, obs_st)
        info = {
            **info,
            "terminated": terminated,
            "truncated": truncated,
            "final_observation": obs_st,
        }
        return obs, new_state, reward, terminated, truncated, info


def make_four_rooms_switch(
    goal=DEFAULT_GOAL,
    new_goal=(10, 10),
    switch_after: int = 1000,
    fail_prob: float = 1.0 / 3.0,
    max_steps_in_episode: int = 1000,
):
    """`(FourRoomsSwitch, SwitchParams)`: uniform starts, index observations;
    goal and new_goal open cells, switch_after >= 1 episodes."""
    goal, new_goal = _check_cell("goal", goal), _check_cell("new_goal", new_goal)
    if not isinstance(switch_after, int) or switch_after < 1:
        raise ValueError(f"switch_after must be a positive int, got {switch_after!r}")
    if not 0.0 <= fail_prob < 1.0:
        raise ValueError(f"fail_prob must be in [0, 1), got {fail_prob}")
    if not isinstance(max_steps_in_episode, int) or max_steps_in_episode < 1:
        raise ValueError("max_steps_in_episode must be a positive int")
    params = SwitchParams(
        goal=jnp.array(goal, jnp.int32),
        fail_prob=fail_prob,
        max_steps_in_episode=max_steps_in_episode,
        new_goal=jnp.array(new_goal, jnp.int32),
        switch_after=jnp.int32(switch_after),
    )
    return FourRoomsSwitch(), params
