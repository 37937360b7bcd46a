"""Fault injection: a wrapper env that returns a NaN reward or observation at a
chosen step, to test that a population survives a member that breaks.

`FaultInjection(env)` is a gymnax-contract env whose params carry the wrapped
env's params plus `fault_step` (the step, counted over the env's whole life
across episodes, at which the fault fires once; -1 = never) and `fault_kind`
(`NAN_REWARD` or `NAN_OBS`). Batched params give each member of a population
its own fault (`per_member_tasks`); everything else passes through.
"""

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment

NO_FAULT = 0
NAN_REWARD = 1
NAN_OBS = 2


@struct.dataclass
class FaultParams:
    env: Any  # the wrapped env's params
    fault_step: jax.Array = -1  # [] int32, 1-based step at which the fault fires
    fault_kind: jax.Array = NO_FAULT  # [] int32, NAN_REWARD or NAN_OBS


@struct.dataclass
class FaultState:
    env: Any  # the wrapped env's state
    steps: jax.Array  # [] int32, steps taken since the first reset


class FaultInjection(environment.Environment):
    """`env` with a NaN reward or observation at `params.fault_step`."""

    def __init__(self, env: environment.Environment):
        super().__init__()
        if not isinstance(env, environment.Environment):
            raise ValueError(f"env must be a gymnax Environment, got {type(env)}")
        self.env = env

    @property
    def default_params(self) -> FaultParams:
        return FaultParams(self.env.default_params, jnp.int32(-1), jnp.int32(NO_FAULT))

    def params_with_fault(self, fault_step, fault_kind, env_params=None) -> FaultParams:
        """Params with a fault of `fault_kind` at `fault_step` (ints or [pop]
        int arrays; the wrapped env's params shared unless given)."""
        if env_params is None:
            env_params = self.env.default_params
        return FaultParams(
            env_params,
            jnp.asarray(fault_step, jnp.int32),
            jnp.asarray(fault_kind, jnp.int32),
        )

    def reset(self, key, params=None):
        params = self.default_params if params is None else params
        obs, state = self.env.reset(key, params.env)
        return obs, FaultState(state, jnp.int32(0))

    def step(self, key, state, action, params=None):
        """The wrapped env's step (its own auto-reset included), then the fault:
        obs, info["final_observation"] and/or reward NaN when it fires."""
        params = self.default_params if params is None else params
        obs, env_state, reward, terminated, truncated, info = self.env.step(
            key, state.env, action, params.env
        )
        steps = state.steps + 1
        fire = steps == params.fault_step
        bad_obs = fire & (params.fault_kind == NAN_OBS)
        bad_reward = fire & (params.fault_kind == NAN_REWARD)
        obs = jnp.where(bad_obs, jnp.nan, obs)
        info = dict(info)
        if "final_observation" in info:
            info["final_observation"] = jnp.where(
                bad_obs, jnp.nan, info["final_observation"]
            )
        reward = jnp.where(bad_reward, jnp.nan, reward)
        return obs, FaultState(env_state, steps), reward, terminated, truncated, info

    def action_space(self, params=None):
        params = self.default_params if params is None else params
        return self.env.action_space(params.env)

    def observation_space(self, params=None):
        params = self.default_params if params is None else params
        return self.env.observation_space(params.env)

    @property
    def name(self) -> str:
        return f"FaultInjection({self.env.name})"

    @property
    def num_actions(self) -> int:
        return self.env.num_actions
