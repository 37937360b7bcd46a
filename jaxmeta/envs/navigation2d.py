"""Navigation2D: the point robot of MAML's 2D navigation (Finn et al., 2017).

The robot starts at ``(0, 0)``; an action is a position change, clipped to
``[-max_step, max_step]`` per axis (0.1); the reward is ``-||pos' - goal||``
(after the move); an episode ends when the robot is within ``goal_radius``
(0.01) of the goal, or after 100 steps. Positions are not bounded. Tasks: the
goal, ``U[-0.5, 0.5]^2``.
"""

from dataclasses import dataclass
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from jaxmeta.envs.tasks import Domain, TaskDistribution, check_range


@struct.dataclass
class Navigation2DState(environment.EnvState):
    position: jax.Array  # [2]
    time: int


@struct.dataclass
class Navigation2DParams(environment.EnvParams):
    # [2]; the default is a corner of the task range, so it is not the start.
    goal: jax.Array = struct.field(default_factory=lambda: jnp.array([0.5, 0.5]))
    max_step: float = 0.1
    goal_radius: float = 0.01
    max_steps_in_episode: int = 100


class Navigation2D(environment.Environment[Navigation2DState, Navigation2DParams]):
    """Observation ``[2]`` = position, action ``[2]`` = position change."""

    @property
    def default_params(self) -> Navigation2DParams:
        return Navigation2DParams()

    def step_env(self, key, state, action, params):
        """Move by the clipped ``action [2]``. Returns obs ``[2]``."""
        delta = jnp.clip(jnp.reshape(action, (2,)), -params.max_step, params.max_step)
        position = state.position + delta
        distance = jnp.linalg.norm(position - params.goal)
        new_state = Navigation2DState(position=position, time=state.time + 1)
        return (
            jax.lax.stop_gradient(self.get_obs(new_state)),
            jax.lax.stop_gradient(new_state),
            -distance,
            distance < params.goal_radius,
            {"distance": distance},
        )

    def reset_env(self, key, params):
        state = Navigation2DState(position=jnp.zeros(2), time=0)
        return self.get_obs(state), state

    def get_obs(self, state, params=None, key=None):
        return state.position

    def is_terminated(self, state, params):
        return jnp.linalg.norm(state.position - params.goal) < params.goal_radius

    @property
    def name(self) -> str:
        return "Navigation2D-v0"

    def action_space(self, params=None) -> spaces.Box:
        params = self.default_params if params is None else params
        return spaces.Box(-params.max_step, params.max_step, (2,), jnp.float32)

    def observation_space(self, params=None) -> spaces.Box:
        return spaces.Box(-jnp.inf, jnp.inf, (2,), jnp.float32)


@dataclass(frozen=True)
class Navigation2DTasks(TaskDistribution):
    """Goal drawn uniformly in ``[low, high]^2``, which must lie in the arena
    ``[-arena_half_width, arena_half_width]^2``."""

    goal: tuple[float, float] = (-0.5, 0.5)
    arena_half_width: float = 0.5
    base_params: Any = None

    domains: ClassVar[dict[str, Domain]] = {"goal": Domain()}
    shapes: ClassVar[dict[str, tuple[int, ...]]] = {"goal": (2,)}

    def __post_init__(self):
        if not self.arena_half_width > 0:
            raise ValueError(
                f"arena_half_width must be > 0, got {self.arena_half_width}"
            )
        half = float(self.arena_half_width)
        arena = Domain(minimum=-half, maximum=half)
        object.__setattr__(self, "goal", check_range("goal", self.goal, arena))
        super().__post_init__()

    def default_base_params(self):
        return Navigation2DParams()


def make_navigation2d(**param_overrides):
    """Registry factory: ``(Navigation2D(), Navigation2DParams(**param_overrides))``."""
    params = Navigation2DParams(**param_overrides)
    if jnp.shape(params.goal) != (2,):
        raise ValueError(f"goal must have shape (2,), got {jnp.shape(params.goal)}")
    return Navigation2D(), params
