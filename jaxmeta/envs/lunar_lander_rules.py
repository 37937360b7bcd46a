"""LunarLander-v3 rules as pure functions: observation, shaping reward, engines
and wind, with Gymnasium's formulas and constants.

They take Box2D-equivalent body quantities (hull origin position, hull
centre-of-mass velocity, angle, angular velocity, leg contacts), so the tests
can feed them Box2D's own body states and compare with Gymnasium's values.
"""

import jax.numpy as jnp

from jaxmeta.envs.lunar_lander_physics import FPS, LEG_DOWN
from jaxmeta.envs.lunar_lander_terrain import HELIPAD_Y, SCALE, WORLD_H, WORLD_W

MAIN_ENGINE_POWER = 13.0
SIDE_ENGINE_POWER = 0.6
SIDE_ENGINE_HEIGHT = 14
SIDE_ENGINE_AWAY = 12
MAIN_ENGINE_Y_LOCATION = 4


def observation(position, velocity, angle, angular_velocity, leg_contact):
    """Gymnasium's observation ``[8]`` from the hull's origin ``position [2]``,
    centre-of-mass ``velocity [2]``, ``angle []``, ``angular_velocity []`` and
    ``leg_contact [2]``."""
    half_w, half_h = WORLD_W / 2, WORLD_H / 2
    return jnp.stack(
        [
            (position[0] - half_w) / half_w,
            (position[1] - (HELIPAD_Y + LEG_DOWN / SCALE)) / half_h,
            velocity[0] * half_w / FPS,
            velocity[1] * half_h / FPS,
            angle,
            20.0 * angular_velocity / FPS,
            leg_contact[0].astype(jnp.float32),
            leg_contact[1].astype(jnp.float32),
        ]
    ).astype(jnp.float32)


def shaping(obs):
    """Gymnasium's shaping potential of an observation ``[8]``. Returns ``[]``."""
    return (
        -100.0 * jnp.sqrt(obs[0] ** 2 + obs[1] ** 2)
        - 100.0 * jnp.sqrt(obs[2] ** 2 + obs[3] ** 2)
        - 100.0 * jnp.abs(obs[4])
        + 10.0 * obs[6]
        + 10.0 * obs[7]
    )


def step_reward(obs, prev_shaping, main_power, side_power, crashed, asleep):
    """Reward of a step ending in ``obs [8]``. Returns ``(reward, shaping,
    terminated)``, all ``[]``: the potential difference minus engine costs,
    replaced by -100 on a crash or ``|x| >= 1`` and by +100 when asleep."""
    potential = shaping(obs)
    reward = potential - prev_shaping - 0.3 * main_power - 0.03 * side_power
    out = crashed | (jnp.abs(obs[0]) >= 1.0)
    reward = jnp.where(out, -100.0, reward)
    reward = jnp.where(asleep, 100.0, reward)
    return reward, potential, out | asleep


def engine_powers(action, continuous: bool):
    """Gymnasium's engine throttles of an action (int ``[]`` or float ``[2]``).
    Returns ``(main_power, side_power, side_direction)``, each ``[]``."""
    if continuous:
        action = jnp.clip(jnp.asarray(action, jnp.float32), -1.0, 1.0)
        main = jnp.where(action[0] > 0.0, (jnp.clip(action[0], 0.0, 1.0) + 1.0) / 2, 0)
        fire_side = jnp.abs(action[1]) > 0.5
        side = jnp.where(fire_side, jnp.clip(jnp.abs(action[1]), 0.5, 1.0), 0.0)
        return main, side, jnp.sign(action[1])
    action = jnp.asarray(action)
    main = jnp.where(action == 2, 1.0, 0.0)
    side = jnp.where((action == 1) | (action == 3), 1.0, 0.0)
    return main, side, (action - 2).astype(jnp.float32)


def engine_impulses(position, angle, main_power, side_power, direction, dispersion):
    """Gymnasium's engine impulses on the hull. ``dispersion [2]`` are its two
    ``U(-1, 1) / SCALE`` draws. Returns ``impulses [2, 2]`` (main, side) and
    their world ``points [2, 2]``."""
    tip = jnp.stack([jnp.sin(angle), jnp.cos(angle)])
    side = jnp.stack([-tip[1], tip[0]])
    main_arm = MAIN_ENGINE_Y_LOCATION / SCALE + 2 * dispersion[0]
    main_offset = jnp.stack(
        [
            tip[0] * main_arm + side[0] * dispersion[1],
            -tip[1] * main_arm - side[1] * dispersion[1],
        ]
    )
    side_arm = 3 * dispersion[1] + direction * SIDE_ENGINE_AWAY / SCALE
    side_offset = jnp.stack(
        [
            tip[0] * dispersion[0] + side[0] * side_arm,
            -tip[1] * dispersion[0] - side[1] * side_arm,
        ]
    )
    # Gymnasium uses 17 (not SIDE_ENGINE_HEIGHT) for the x part; kept as is
    side_point = (
        position
        + side_offset
        + jnp.stack([-tip[0] * 17 / SCALE, tip[1] * SIDE_ENGINE_HEIGHT / SCALE])
    )
    impulses = jnp.stack(
        [
            -main_offset * MAIN_ENGINE_POWER * main_power,
            -side_offset * SIDE_ENGINE_POWER * side_power,
        ]
    )
    return impulses, jnp.stack([position + main_offset, side_point])


def wind(index, power):
    """Gymnasium's non-periodic wind profile ``tanh(sin(0.02 i) + sin(0.01 pi i))``
    scaled by ``power``. ``index`` int ``[]``. Returns ``[]``."""
    # |i| reaches 1e4, where float32 rounding of 0.02 * i alone costs 2e-4 of
    # wind: split i = 50 q + r so both sines take exact or small arguments
    q = jnp.floor_divide(index, 50).astype(jnp.float32)
    r = jnp.mod(index, 50).astype(jnp.float32)
    sin_02 = jnp.sin(q) * jnp.cos(0.02 * r) + jnp.cos(q) * jnp.sin(0.02 * r)
    sin_pi = jnp.sin(jnp.pi * 0.01 * jnp.mod(index, 200).astype(jnp.float32))
    return jnp.tanh(sin_02 + sin_pi) * power
