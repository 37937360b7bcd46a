"""LunarLander-v3 (discrete and continuous) in JAX, faithful to Gymnasium's.

Same as Gymnasium: 8-dim observation and its scaling, the shaping reward
(potential difference, 0.3 per frame of main engine and 0.03 of side engine,
-100 on crash or ``|x| >= 1``, +100 when the lander falls asleep), termination,
terrain (11 chunks, flat helipad), engine impulses with dispersion noise at the
same points and strengths, wind and turbulence, continuous action semantics
(main throttle 50..100 % above 0, side engines for ``|lateral| > 0.5``),
1000-step time limit, and the 50 fps step. The observation and reward are pure
functions (`jaxmeta.envs.lunar_lander_rules`) so they can be checked on
Box2D's own body states.

Simplifications against Box2D (the physics is our own, see
`jaxmeta.envs.lunar_lander_physics`):
- Legs are massless sprung links on a rigid hull+legs body instead of two
  jointed bodies: Box2D's 180 velocity iterations make the jointed legs rigid in
  flight, which this reproduces exactly, and on the ground the leg's 1.4 % mass
  only matters through the 40 N m motor limit, which we keep.
- Contact is the deepest point of each leg (a corner, or a ground vertex inside
  the leg) against the ground polyline, solved with 8 Gauss-Seidel iterations;
  Box2D's position solver is replaced by speculative contacts (a foot stops at
  Box2D's time-of-impact depth), since the velocity constraints already prevent
  deeper penetration. The hull never needs contact forces: any hull contact ends
  the episode; we detect it with Box2D's 0.02 m margin at the start of the step
  or, for a fast hull, when it would pass Box2D's time-of-impact depth.
- "Not awake" is Box2D's sleep rule: the hull and both legs slower than
  0.01 m/s and 2 deg/s for 25 consecutive steps (0.5 s in float32).
- Gymnasium's reset creates the legs violating their joints and takes one
  physics step; Box2D's snap of the joints gives the lander an angle, spin and
  leg angles that are exact affine functions of the random push. We use that
  map as measured from Box2D 2.3.10 (residuals below 1e-5), not a simulation of
  the snap.
"""

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from jaxmeta.envs import lunar_lander_physics as physics
from jaxmeta.envs.lunar_lander_rules import (
    engine_impulses,
    engine_powers,
    observation,
    shaping,
    step_reward,
    wind,
)
from jaxmeta.envs.lunar_lander_terrain import (
    CHUNKS,
    SCALE,
    WORLD_H,
    WORLD_W,
    smooth_terrain,
)

INITIAL_RANDOM = 1000.0
# Box2D's first step after Gymnasium's reset, as affine maps of the push force
# (fx, fy) in N: measured on 300 seeds at gravity -10.
RESET_X_PER_FX = 7.98268e-5
RESET_VX_PER_FX = 4.04280e-3
RESET_Y_SNAP = 0.0061356  # hull lifted by the legs' joint snap
RESET_ANGLE = (6.6105e-6, -9.24994e-6)  # intercept, per fx
RESET_SPIN_PER_FX = -4.578771e-4
RESET_COMPRESSION = (0.1418777, 0.1421517)  # legs[0], legs[1] at fx = 0
RESET_COMPRESSION_PER_FX = (-2.74642e-6, 2.75018e-6)


@struct.dataclass
class LunarLanderState(environment.EnvState):
    body: physics.LanderBody
    leg_contact: jax.Array  # [2] bool, as in the last observation
    game_over: jax.Array  # [] bool, the hull touched the ground
    still_steps: jax.Array  # [] int32, consecutive steps below sleep tolerance
    prev_shaping: jax.Array  # []
    terrain_y: jax.Array  # [11]
    wind_index: jax.Array  # [] int32
    torque_index: jax.Array  # [] int32
    time: int


@struct.dataclass
class LunarLanderParams(environment.EnvParams):
    gravity: float = -10.0
    enable_wind: float = 0.0  # 1.0 applies wind and turbulence
    wind_power: float = 15.0
    turbulence_power: float = 1.5
    max_steps_in_episode: int = 1000


def _wind_forces(state, params):
    """Wind force ``[2]``, turbulence torque and advanced indices."""
    on = (params.enable_wind > 0.5) & ~jnp.any(state.leg_contact)
    force = jnp.where(on, wind(state.wind_index, params.wind_power), 0.0)
    torque = jnp.where(on, wind(state.torque_index, params.turbulence_power), 0.0)
    step = on.astype(jnp.int32)
    return (
        jnp.stack([force, 0.0]),
        torque,
        state.wind_index + step,
        (state.torque_index + step),
    )


class LunarLander(environment.Environment[LunarLanderState, LunarLanderParams]):
    """Observation ``[8]``; action int in ``{0: noop, 1: left, 2: main, 3: right}``
    or, with ``continuous=True``, ``[2]`` floats in ``[-1, 1]``."""

    def __init__(self, continuous: bool = False):
        super().__init__()
        if not isinstance(continuous, bool):
            raise ValueError(f"continuous must be True or False, got {continuous!r}")
        self.continuous = continuous

    @property
    def default_params(self) -> LunarLanderParams:
        return LunarLanderParams()

    def step_env(self, key, state, action, params):
        """One Gymnasium step. Returns ``(obs [8], state, reward, terminated,
        info)``."""
        dispersion = jax.random.uniform(key, (2,), minval=-1.0, maxval=1.0) / SCALE
        main, side, direction = engine_powers(action, self.continuous)
        force, torque, wind_index, torque_index = _wind_forces(state, params)
        impulses, points = engine_impulses(
            state.body.position, state.body.angle, main, side, direction, dispersion
        )
        body, leg_contact, crashed, still = physics.physics_step(
            state.body,
            state.terrain_y,
            impulses,
            points,
            force,
            torque,
            params.gravity,
        )
        still_steps = jnp.where(still, state.still_steps + 1, 0)
        obs = observation(
            body.position,
            body.velocity,
            body.angle,
            body.angular_velocity,
            leg_contact,
        )
        asleep = still_steps >= physics.SLEEP_STEPS
        reward, potential, terminated = step_reward(
            obs, state.prev_shaping, main, side, crashed, asleep
        )
        state = LunarLanderState(
            body=body,
            leg_contact=leg_contact,
            game_over=crashed,
            still_steps=still_steps,
            prev_shaping=potential,
            terrain_y=state.terrain_y,
            wind_index=wind_index,
            torque_index=torque_index,
            time=state.time + 1,
        )
        info: dict[str, Any] = {"crashed": crashed, "asleep": asleep}
        return (
            jax.lax.stop_gradient(obs),
            jax.lax.stop_gradient(state),
            reward.astype(jnp.float32),
            terminated,
            info,
        )

    def reset_env(self, key, params):
        """Gymnasium's reset (terrain, push, and the first physics step)."""
        # one draw for everything: the reset runs inside every autoreset step
        u = jax.random.uniform(key, (CHUNKS + 5,))
        terrain_y = smooth_terrain(u[: CHUNKS + 1] * (WORLD_H / 2))
        push = (2.0 * u[CHUNKS + 1 : CHUNKS + 3] - 1.0) * INITIAL_RANDOM
        indices = jnp.floor(u[CHUNKS + 3 :] * 19998).astype(jnp.int32) - 9999
        state = LunarLanderState(
            body=None,
            leg_contact=jnp.zeros(2, bool),
            game_over=jnp.bool_(False),
            still_steps=jnp.int32(0),
            prev_shaping=jnp.float32(0.0),
            terrain_y=terrain_y,
            wind_index=indices[0],
            torque_index=indices[1],
            time=0,
        )
        force, torque, wind_index, torque_index = _wind_forces(state, params)
        body = initial_body(push + force, torque, params.gravity)
        obs = observation(
            body.position,
            body.velocity,
            body.angle,
            body.angular_velocity,
            state.leg_contact,
        )
        state = state.replace(
            body=body,
            prev_shaping=shaping(obs),
            wind_index=wind_index,
            torque_index=torque_index,
        )
        return obs, state

    def is_terminated(self, state, params):
        out = jnp.abs(self.get_obs(state)[0]) >= 1.0
        return state.game_over | out | (state.still_steps >= physics.SLEEP_STEPS)

    def get_obs(self, state, params=None, key=None):
        body = state.body
        return observation(
            body.position,
            body.velocity,
            body.angle,
            body.angular_velocity,
            state.leg_contact,
        )

    @property
    def name(self) -> str:
        return "LunarLanderContinuous-v3" if self.continuous else "LunarLander-v3"

    @property
    def num_actions(self) -> int:
        return 2 if self.continuous else 4

    def action_space(self, params=None):
        if self.continuous:
            return spaces.Box(-1.0, 1.0, (2,), jnp.float32)
        return spaces.Discrete(4)

    def observation_space(self, params=None) -> spaces.Box:
        high = jnp.array([2.5, 2.5, 10.0, 10.0, 2 * jnp.pi, 10.0, 1.0, 1.0])
        low = jnp.concatenate([-high[:6], jnp.zeros(2)])
        return spaces.Box(low, high, (8,), jnp.float32)


def initial_body(force, torque, gravity) -> physics.LanderBody:
    """Lander after Gymnasium's reset step under ``force [2]`` (push + wind) and
    ``torque []`` (turbulence): Box2D's measured affine response (see module
    docstring); linear motion follows from the composite mass."""
    fx, fy = force[0], force[1]
    dt = physics.DT
    position = jnp.stack(
        [
            WORLD_W / 2 + RESET_X_PER_FX * fx,
            WORLD_H + RESET_Y_SNAP + dt * dt * (gravity + fy / physics.MASS),
        ]
    )
    velocity = jnp.stack([RESET_VX_PER_FX * fx, dt * (gravity + fy / physics.MASS)])
    compression = jnp.stack(
        [
            RESET_COMPRESSION[0] + RESET_COMPRESSION_PER_FX[0] * fx,
            RESET_COMPRESSION[1] + RESET_COMPRESSION_PER_FX[1] * fx,
        ]
    )
    return physics.LanderBody(
        position=position,
        velocity=velocity,
        angle=jnp.float32(RESET_ANGLE[0]) + RESET_ANGLE[1] * fx,
        angular_velocity=RESET_SPIN_PER_FX * fx + dt * torque / physics.INERTIA,
        leg_compression=compression,
    )


def _validated_params(
    gravity, enable_wind, wind_power, turbulence_power, max_steps_in_episode
) -> LunarLanderParams:
    if not -12.0 < gravity < 0.0:
        raise ValueError(f"gravity must be in (-12, 0), got {gravity!r}")
    if not isinstance(enable_wind, bool):
        raise ValueError(f"enable_wind must be True or False, got {enable_wind!r}")
    if wind_power < 0.0:
        raise ValueError(f"wind_power must be >= 0, got {wind_power!r}")
    if turbulence_power < 0.0:
        raise ValueError(f"turbulence_power must be >= 0, got {turbulence_power!r}")
    if int(max_steps_in_episode) < 1:
        raise ValueError(
            f"max_steps_in_episode must be >= 1, got {max_steps_in_episode!r}"
        )
    return LunarLanderParams(
        gravity=float(gravity),
        enable_wind=float(enable_wind),
        wind_power=float(wind_power),
        turbulence_power=float(turbulence_power),
        max_steps_in_episode=int(max_steps_in_episode),
    )


def make_lunar_lander(
    gravity=-10.0,
    enable_wind=False,
    wind_power=15.0,
    turbulence_power=1.5,
    max_steps_in_episode=1000,
):
    """Discrete LunarLander-v3. Returns ``(env, env_params)``."""
    params = _validated_params(
        gravity, enable_wind, wind_power, turbulence_power, max_steps_in_episode
    )
    return LunarLander(continuous=False), params


def make_lunar_lander_continuous(
    gravity=-10.0,
    enable_wind=False,
    wind_power=15.0,
    turbulence_power=1.5,
    max_steps_in_episode=1000,
):
    """LunarLanderContinuous-v3 (Gymnasium's ``continuous=True``). Returns
    ``(env, env_params)``."""
    params = _validated_params(
        gravity, enable_wind, wind_power, turbulence_power, max_steps_in_episode
    )
    return LunarLander(continuous=True), params
