"""Brax environments under the gymnax contract.

`BraxEnv(name, backend)` wraps a brax env: ``reset(key, params) -> (obs,
state)`` and ``step(key, state, action, params)`` returning gymnax's 6 values,
auto-reset on episode end as gymnax does, truncation at
``params.max_steps_in_episode``. Brax's own ``done`` (e.g. an unhealthy ant, a
fallen pendulum) is ``terminated``. Brax steps are deterministic, so ``key`` is
used only by resets. The action space is the actuators' control range from the
model (``[-1, 1]`` for ant and halfcheetah, ``[-3, 3]`` for inverted_pendulum);
actions are clipped to it.

brax is imported when an env is built, not when `jaxmeta.envs` is imported: it
is slow to import and prints warnings about optional packages.
"""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces

SUPPORTED_ENVS = ("ant", "halfcheetah", "hopper", "inverted_pendulum", "walker2d")
BACKENDS = ("generalized", "positional", "spring", "mjx")


@struct.dataclass
class BraxEnvState(environment.EnvState):
    brax_state: Any  # brax.envs.base.State
    time: int


@struct.dataclass
class BraxEnvParams(environment.EnvParams):
    max_steps_in_episode: int = 1000


class BraxEnv(environment.Environment[BraxEnvState, BraxEnvParams]):
    """A brax env as a gymnax env; observation ``[obs_dim]``, action ``[act_dim]``."""

    def __init__(self, env_name: str, backend: str = "generalized", **brax_kwargs):
        super().__init__()
        if env_name not in SUPPORTED_ENVS:
            raise ValueError(
                f"env_name must be one of {', '.join(SUPPORTED_ENVS)}, got {env_name!r}"
            )
        if backend not in BACKENDS:
            raise ValueError(
                f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}"
            )
        from brax import envs as brax_envs

        self.env_name = env_name
        self.backend = backend
        self.brax_env = brax_envs.get_environment(
            env_name, backend=backend, **brax_kwargs
        )
        ctrl_range = np.asarray(self.brax_env.sys.actuator_ctrlrange, np.float32)
        self.action_low = ctrl_range[:, 0]
        self.action_high = ctrl_range[:, 1]
        self.action_dim = int(self.brax_env.action_size)
        self.obs_dim = int(self.brax_env.observation_size)

    @property
    def default_params(self) -> BraxEnvParams:
        return BraxEnvParams()

    def step_env(self, key, state, action, params):
        """One brax step; ``action [act_dim]`` is clipped to the control range."""
        action = jnp.clip(action, self.action_low, self.action_high)
        brax_state = self.brax_env.step(state.brax_state, action)
        new_state = BraxEnvState(brax_state=brax_state, time=state.time + 1)
        return (
            jax.lax.stop_gradient(brax_state.obs),
            jax.lax.stop_gradient(new_state),
            brax_state.reward,
            brax_state.done > 0.5,
            dict(brax_state.metrics),
        )

    def reset_env(self, key, params):
        brax_state = self.brax_env.reset(key)
        return brax_state.obs, BraxEnvState(brax_state=brax_state, time=0)

    def is_terminated(self, state, params):
        return state.brax_state.done > 0.5

    @property
    def name(self) -> str:
        return f"brax-{self.env_name}"

    @property
    def num_actions(self) -> int:
        return self.action_dim

    def action_space(self, params=None) -> spaces.Box:
        return spaces.Box(
            jnp.asarray(self.action_low),
            jnp.asarray(self.action_high),
            (self.action_dim,),
            jnp.float32,
        )

    def observation_space(self, params=None) -> spaces.Box:
        return spaces.Box(-jnp.inf, jnp.inf, (self.obs_dim,), jnp.float32)


def make_brax(
    env_name: str, backend: str = "generalized", max_steps_in_episode: int = 1000
):
    """Build ``(BraxEnv(env_name, backend), BraxEnvParams(max_steps_in_episode))``.

    Raises ValueError naming `env_name`, `backend` or `max_steps_in_episode`.
    """
    if not (isinstance(max_steps_in_episode, int) and max_steps_in_episode >= 1):
        raise ValueError(
            f"max_steps_in_episode must be an int >= 1, got {max_steps_in_episode!r}"
        )
    env = BraxEnv(env_name, backend)
    return env, BraxEnvParams(max_steps_in_episode=max_steps_in_episode)


def make_brax_ant(**options):
    """Registry factory for "brax-ant"; options as `make_brax`."""
    return make_brax("ant", **options)


def make_brax_halfcheetah(**options):
    """Registry factory for "brax-halfcheetah"; options as `make_brax`."""
    return make_brax("halfcheetah", **options)


def make_brax_inverted_pendulum(**options):
    """Registry factory for "brax-inverted_pendulum"; options as `make_brax`."""
    return make_brax("inverted_pendulum", **options)


def make_brax_hopper(**options):
    """Registry factory for "brax-hopper"; options as `make_brax`."""
    return make_brax("hopper", **options)


def make_brax_walker2d(**options):
    """Registry factory for "brax-walker2d"; options as `make_brax`."""
    return make_brax("walker2d", **options)
