"""Point2D: a point in the box ``[-1, 1]^2``, for skill discovery (DIAYN's 2-D
navigation, Eysenbach et al. 2018) and a sparse goal-reaching task after it.

The point starts at ``(0, 0)``; an action ``[2]`` in ``[-1, 1]^2`` (clipped)
moves it by ``max_speed * action`` (0.1), and the position is clipped to the
box, so the walls stop it. Episodes never terminate; they are truncated after
``max_steps_in_episode`` (50) steps. The reward is sparse: 1 for every step
that ends within ``goal_radius`` (0.2) of ``goal`` (default ``(0.7, 0.7)``,
10 full-speed diagonal steps away), else 0. DIAYN ignores it; the
downstream check trains on it. Observation ``[2]``: the position.
"""

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces


@struct.dataclass
class Point2DState(environment.EnvState):
    position: jax.Array  # [2]
    time: int


@struct.dataclass
class Point2DParams(environment.EnvParams):
    goal: jax.Array = struct.field(default_factory=lambda: jnp.array([0.7, 0.7]))
    goal_radius: float = 0.2
    max_speed: float = 0.1
    max_steps_in_episode: int = 50


class Point2D(environment.Environment[Point2DState, Point2DParams]):
    """Observation ``[2]`` = position in ``[-1, 1]^2``, action ``[2]``."""

    @property
    def default_params(self) -> Point2DParams:
        return Point2DParams()

    def step_env(self, key, state, action, params):
        """Move by ``max_speed * clip(action [2])``. Returns obs ``[2]``."""
        delta = params.max_speed * jnp.clip(jnp.reshape(action, (2,)), -1.0, 1.0)
        position = jnp.clip(state.position + delta, -1.0, 1.0)
        new_state = Point2DState(position=position, time=state.time + 1)
        near = jnp.linalg.norm(position - params.goal) < params.goal_radius
        return (
            jax.lax.stop_gradient(self.get_obs(new_state)),
            jax.lax.stop_gradient(new_state),
            near.astype(jnp.float32),
            jnp.asarray(False),
            {},
        )

    def reset_env(self, key, params):
        state = Point2DState(position=jnp.zeros(2), time=0)
        return self.get_obs(state), state

    def get_obs(self, state, params=None, key=None):
        return state.position

    @property
    def name(self) -> str:
        return "Point2D-v0"

    def action_space(self, params=None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (2,), jnp.float32)

    def observation_space(self, params=None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (2,), jnp.float32)


def make_point2d(**param_overrides):
    """Registry factory: ``(Point2D(), Point2DParams(**param_overrides))``."""
    params = Point2DParams(**param_overrides)
    if jnp.shape(params.goal) != (2,):
        raise ValueError(f"goal must have shape (2,), got {jnp.shape(params.goal)}")
    return Point2D(), params
