"""Elikoeidis: the single-state environment of the trust-region meta-learning paper.

The reward of action ``a`` is ``R(a) ~ N(c1 * a * sin(|a| ** (1 + 1/c2)) + c3 * a,
c4)``, the task being ``c = (c1, c2, c3, c4)``, default ``(0.5, 3, 0.5, 1)``.

Choices the paper leaves open, made here:

- ``a ** (1 + 1/c2)`` has no real value for every negative ``a``; we use
  ``|a| ** (1 + 1/c2)``. For the paper's ``c2 = 3`` this *is* the real value
  (``(-x) ** (4/3) = (cbrt(-x)) ** 4 = x ** (4/3)``), and it keeps the mean
  reward continuous and odd in ``a``.
- ``N(mu, c4)`` is read as mean and *variance* (the usual notation), so the
  reward noise has standard deviation ``sqrt(c4)``; at the default ``c4 = 1``
  both readings agree.
- The paper gives no action bound or horizon. The mean reward grows without
  bound in ``a``, so actions are clipped to ``[-max_action, max_action]``
  (default 5) and an episode is one action (``max_steps_in_episode = 1``); both
  are env params.

The observation is the constant ``[1.0]`` (the one state), so a linear policy
``a = w * obs`` has a mean to learn.
"""

from dataclasses import dataclass
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from jaxmeta.envs.tasks import NONNEGATIVE, POSITIVE, Domain, TaskDistribution


@struct.dataclass
class ElikoeidisState(environment.EnvState):
    time: int


@struct.dataclass
class ElikoeidisParams(environment.EnvParams):
    c1: float = 0.5
    c2: float = 3.0
    c3: float = 0.5
    c4: float = 1.0
    max_action: float = 5.0
    max_steps_in_episode: int = 1


def mean_reward(action, params):
    """Expected reward of ``action`` (any shape) under task `params`; same shape."""
    exponent = 1.0 + 1.0 / params.c2
    wave = jnp.sin(jnp.abs(action) ** exponent)
    return params.c1 * action * wave + params.c3 * action


class Elikoeidis(environment.Environment[ElikoeidisState, ElikoeidisParams]):
    """Observation ``[1]`` (constant); action ``[1]``, clipped to +-max_action."""

    @property
    def default_params(self) -> ElikoeidisParams:
        return ElikoeidisParams()

    def step_env(self, key, state, action, params):
        """Reward of one action (``[]`` or ``[1]``). Returns obs ``[1]``."""
        a = jnp.clip(jnp.reshape(action, ()), -params.max_action, params.max_action)
        noise = jnp.sqrt(params.c4) * jax.random.normal(key)
        reward = mean_reward(a, params) + noise
        new_state = ElikoeidisState(time=state.time + 1)
        return (
            self.get_obs(new_state),
            new_state,
            reward,
            jnp.array(False),
            {"mean_reward": mean_reward(a, params)},
        )

    def reset_env(self, key, params):
        state = ElikoeidisState(time=0)
        return self.get_obs(state), state

    def get_obs(self, state, params=None, key=None):
        return jnp.ones((1,), jnp.float32)

    def is_terminated(self, state, params):
        return jnp.array(False)

    @property
    def name(self) -> str:
        return "Elikoeidis-v0"

    def action_space(self, params=None) -> spaces.Box:
        params = self.default_params if params is None else params
        return spaces.Box(-params.max_action, params.max_action, (1,), jnp.float32)

    def observation_space(self, params=None) -> spaces.Box:
        return spaces.Box(1.0, 1.0, (1,), jnp.float32)


@dataclass(frozen=True)
class ElikoeidisTasks(TaskDistribution):
    """Uniform ranges for ``c1..c4``; the default is the paper's single task."""

    c1: tuple[float, float] = (0.5, 0.5)
    c2: tuple[float, float] = (3.0, 3.0)
    c3: tuple[float, float] = (0.5, 0.5)
    c4: tuple[float, float] = (1.0, 1.0)
    base_params: Any = None

    domains: ClassVar[dict[str, Domain]] = {
        "c1": Domain(),
        "c2": POSITIVE,  # 1/c2 must exist and keep the exponent above 1
        "c3": Domain(),
        "c4": NONNEGATIVE,  # a variance
    }

    def default_base_params(self):
        return ElikoeidisParams()


def make_elikoeidis(**param_overrides):
    """Registry factory: ``(Elikoeidis(), ElikoeidisParams(**param_overrides))``."""
    params = ElikoeidisParams(**param_overrides)
    if not params.c2 > 0:
        raise ValueError(f"c2 must be > 0, got {params.c2}")
    if not params.c4 >= 0:
        raise ValueError(f"c4 must be >= 0 (a variance), got {params.c4}")
    if not params.max_action > 0:
        raise ValueError(f"max_action must be > 0, got {params.max_action}")
    return Elikoeidis(), params
