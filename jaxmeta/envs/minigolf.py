"""Minigolf (Tirinzoni, Salvini and Restelli, ICML 2019).

The state is the ball's distance ``x`` to the hole, in [0, 20]. Each step the
agent picks an action ``u`` in [0, 5] (clipped); the ball leaves the putter at
speed ``v = u * putter_length * (1 + eps)``, ``eps ~ N(0, noise_variance)``
truncated to ``|eps| <= 1``, and slows down at ``d = (5/7) * friction * 9.81``.

- ``v < v_min = sqrt((10/7) * friction * 9.81 * x)``: the ball stops short, at
  ``x - v**2 / (2 d)``; reward -1, the episode goes on;
- ``v > v_max = sqrt((2 hole - r_ball)**2 * 9.81 / (2 r_ball) + v_min**2)``: it
  rolls over the hole; reward -100, the episode ends;
- otherwise it is holed: reward 0, the episode ends.

The start distance is drawn uniformly in [0, 20], as in the authors' code (the
papers do not state it). Horizon 20 steps. The truncated noise is drawn without
rejection loops, by `jax.random.truncated_normal` on ``eps / sigma``.
"""

from dataclasses import dataclass
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from jaxmeta.envs.tasks import NONNEGATIVE, POSITIVE, Domain, TaskDistribution

GRAVITY = 9.81
BALL_RADIUS = 0.02135
MIN_DISTANCE = 0.0
MAX_DISTANCE = 20.0
MIN_ACTION = 0.0
MAX_ACTION = 5.0


@struct.dataclass
class MinigolfState(environment.EnvState):
    distance: jax.Array  # [] distance of the ball to the hole
    time: int


@struct.dataclass
class MinigolfParams(environment.EnvParams):
    putter_length: float = 1.0
    friction: float = 0.131
    hole_size: float = 0.10
    noise_variance: float = 0.09
    max_steps_in_episode: int = 20


def speed_bounds(distance, friction, hole_size):
    """Slowest and fastest ball speed that sink the ball.

    Args:
        distance, friction, hole_size: arrays of one shape (usually ``[]``).
    Returns:
        ``(v_min, v_max)``, each of that shape.
    """
    v_min_sq = (10.0 / 7.0) * friction * GRAVITY * distance
    v_max_sq = (2.0 * hole_size - BALL_RADIUS) ** 2 * GRAVITY / (
        2.0 * BALL_RADIUS
    ) + v_min_sq
    return jnp.sqrt(v_min_sq), jnp.sqrt(v_max_sq)


def truncated_noise(key, variance):
    """``eps ~ N(0, variance)`` conditioned on ``|eps| <= 1``; shape ``[]``."""
    std = jnp.sqrt(variance)
    safe_std = jnp.maximum(std, 1e-12)
    unit = jax.random.truncated_normal(key, -1.0 / safe_std, 1.0 / safe_std)
    return jnp.clip(jnp.where(std > 0.0, std * unit, 0.0), -1.0, 1.0)


class Minigolf(environment.Environment[MinigolfState, MinigolfParams]):
    """One-dimensional putting; observation ``[1]`` = distance, action ``[1]``."""

    @property
    def default_params(self) -> MinigolfParams:
        return MinigolfParams()

    def step_env(self, key, state, action, params):
        """One putt. ``action``: ``[]`` or ``[1]`` float. Returns obs ``[1]``."""
        u = jnp.clip(jnp.reshape(action, ()), MIN_ACTION, MAX_ACTION)
        eps = truncated_noise(key, params.noise_variance)
        speed = u * params.putter_length * (1.0 + eps)
        deceleration = (5.0 / 7.0) * params.friction * GRAVITY
        v_min, v_max = speed_bounds(state.distance, params.friction, params.hole_size)
        short = speed < v_min
        over = speed > v_max
        reward = jnp.where(short, -1.0, jnp.where(over, -100.0, 0.0))
        new_distance = state.distance - speed**2 / (2.0 * deceleration)
        distance = jnp.where(short, new_distance, jnp.where(over, new_distance, 0.0))
        new_state = MinigolfState(distance=distance, time=state.time + 1)
        terminated = jnp.logical_not(short)
        info = {"speed": speed, "v_min": v_min, "v_max": v_max}
        return (
            jax.lax.stop_gradient(self.get_obs(new_state)),
            jax.lax.stop_gradient(new_state),
            reward,
            terminated,
            info,
        )

    def reset_env(self, key, params):
        """Start distance ~ U[0, 20]. Returns obs ``[1]`` and the state."""
        distance = jax.random.uniform(key, (), jnp.float32, MIN_DISTANCE, MAX_DISTANCE)
        state = MinigolfState(distance=distance, time=0)
        return self.get_obs(state), state

    def get_obs(self, state, params=None, key=None):
        return jnp.reshape(state.distance, (1,))

    def is_terminated(self, state, params):
        return state.distance <= 0.0

    @property
    def name(self) -> str:
        return "Minigolf-v0"

    def action_space(self, params=None) -> spaces.Box:
        return spaces.Box(MIN_ACTION, MAX_ACTION, (1,), jnp.float32)

    def observation_space(self, params=None) -> spaces.Box:
        # An overshot ball ends past the hole (negative distance) on its last step.
        return spaces.Box(-jnp.inf, MAX_DISTANCE, (1,), jnp.float32)


@dataclass(frozen=True)
class MinigolfTasks(TaskDistribution):
    """Ranges of the authors' code: putter U(0.7, 1.0), friction U(0.1, 0.15),
    hole U(0.10, 0.15), noise variance 0.09."""

    putter_length: tuple[float, float] = (0.7, 1.0)
    friction: tuple[float, float] = (0.1, 0.15)
    hole_size: tuple[float, float] = (0.10, 0.15)
    noise_variance: tuple[float, float] = (0.09, 0.09)
    base_params: Any = None

    domains: ClassVar[dict[str, Domain]] = {
        "putter_length": POSITIVE,
        "friction": POSITIVE,
        # A hole narrower than the ball's radius cannot hold it.
        "hole_size": Domain(minimum=BALL_RADIUS, open_minimum=True),
        "noise_variance": NONNEGATIVE,
    }

    def default_base_params(self):
        return MinigolfParams()


def make_minigolf(**param_overrides):
    """Registry factory: ``(Minigolf(), MinigolfParams(**param_overrides))``.

    Raises ValueError naming a task field outside its allowed values.
    """
    params = MinigolfParams(**param_overrides)
    for name, domain in MinigolfTasks.domains.items():
        value = getattr(params, name)
        if isinstance(value, int | float) and not domain.contains(value):
            raise ValueError(f"{name} must lie in {domain.describe()}, got {value}")
    return Minigolf(), params
