"""LunarLander rigid-body physics in JAX: lander, two sprung legs, ground contact.

Model (our own, Box2D's constants). The hull (Gymnasium's ``LANDER_POLY``,
density 5) and the two leg boxes (4x16 px, density 1) move as ONE rigid body
whose mass, centre of mass and inertia include the legs at rest (joint at its
extended limit). Each leg additionally has a compression angle ``psi`` in
``[0, 0.5]`` (the revolute joint's 0.5 rad range). Its motor (Box2D: speed 0.3
rad/s, max torque 40 N m) is modelled on a massless leg: the leg re-extends at
0.3 rad/s; a foot contact pushes the lander rigidly until the torque it needs
about the joint exceeds 40 N m, then the leg yields (compresses) at exactly the
rate that keeps the foot on the ground. A fully compressed leg is rigid again.

One step, as ``b2World.Step(1/50, 180, 60)`` after the engine impulses:
impulses and forces change the rigid velocity; ground contacts of the legs (the
deepest leg point each, with Box2D's 0.02 m touching margin and mixed friction
``sqrt(0.2 * 0.1)``) are solved by projected Gauss-Seidel; a contact that is
not yet touching acts speculatively, stopping the foot 0.015 m into the skin as
Box2D's time-of-impact step does; then positions are integrated.
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxmeta.envs.lunar_lander_terrain import (
    SCALE,
    nearest_vertex,
    point_separation,
    vertex_in_polygon,
)

FPS = 50
DT = 1.0 / FPS
LANDER_POLY = np.array(
    [(-14, 17), (-17, 0), (-17, -10), (17, -10), (17, 0), (14, 17)], np.float64
)
LEG_AWAY, LEG_DOWN, LEG_W, LEG_H = 20, 18, 2, 8
LEG_SIGN = np.array([-1.0, 1.0])  # Gymnasium's i for legs[0], legs[1]
LEG_ANCHOR = np.stack([LEG_SIGN * LEG_AWAY / SCALE, np.full(2, LEG_DOWN / SCALE)], 1)
LEG_REFERENCE_ANGLE = LEG_SIGN * 0.05  # leg created at angle i*0.05
LEG_REST_JOINT_ANGLE = -LEG_SIGN * 0.4  # extended-end joint limit
LEG_COMPRESS_SIGN = -LEG_SIGN  # joint angle = rest + sign * psi
LEG_MAX_COMPRESSION = 0.5
LEG_MOTOR_SPEED = 0.3
LEG_MOTOR_TORQUE = 40.0
FRICTION = float(np.sqrt(0.2 * 0.1))
TOUCH_MARGIN = 2 * 0.01  # edge radius + polygon radius
TOI_DEPTH = 0.015  # Box2D TOI target: core distance linear_slop (0.005)
LINEAR_SLEEP_TOL = 0.01
ANGULAR_SLEEP_TOL = 2.0 / 180.0 * np.pi
MAX_TRANSLATION = 2.0
MAX_ROTATION = 0.5 * np.pi
SOLVER_ITERATIONS = 8

# sleep after this many still steps: float32 sum of DT reaching b2_timeToSleep
SLEEP_STEPS = int(np.argmax(np.cumsum(np.full(100, DT, np.float32)) >= 0.5)) + 1


def _polygon_mass(vertices: np.ndarray, density: float):
    """Box2D polygon mass: (mass, centroid [2], inertia about the centroid)."""
    area, centroid, inertia = 0.0, np.zeros(2), 0.0
    for a, b in zip(vertices, np.roll(vertices, -1, axis=0), strict=True):
        cross = a[0] * b[1] - a[1] * b[0]
        area += 0.5 * cross
        centroid += cross / 6.0 * (a + b)
        inertia += cross / 12.0 * (a @ a + a @ b + b @ b)
    centroid /= area
    mass = density * area
    return mass, centroid, density * inertia - mass * centroid @ centroid


def _rotate(angle, v):
    """Rotate ``v [..., 2]`` by ``angle`` (elementwise: no batched matmuls)."""
    c, s = jnp.cos(angle), jnp.sin(angle)
    return jnp.stack([c * v[..., 0] - s * v[..., 1], s * v[..., 0] + c * v[..., 1]], -1)


def _dot(a, b):
    return a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1]


def _leg_geometry(leg_compression, xp=jnp):
    """Leg centres ``[2, 2]`` and relative angles ``[2]`` in the hull frame."""
    joint = LEG_REST_JOINT_ANGLE + LEG_COMPRESS_SIGN * leg_compression
    angle = joint + LEG_REFERENCE_ANGLE
    c, s = xp.cos(angle), xp.sin(angle)
    ax, ay = LEG_ANCHOR[:, 0], LEG_ANCHOR[:, 1]
    return -xp.stack([c * ax - s * ay, s * ax + c * ay], axis=1), angle


HULL = LANDER_POLY / SCALE
_edges = np.roll(HULL, -1, axis=0) - HULL
HULL_NORMALS = np.stack([_edges[:, 1], -_edges[:, 0]], 1)
HULL_NORMALS /= np.linalg.norm(HULL_NORMALS, axis=1, keepdims=True)
HULL_MASS, HULL_CENTER, HULL_INERTIA = _polygon_mass(HULL, 5.0)
_leg_box = np.array(
    [[-LEG_W, -LEG_H], [LEG_W, -LEG_H], [LEG_W, LEG_H], [-LEG_W, LEG_H]]
)
LEG_BOX = _leg_box / SCALE  # corners in the leg frame, counter-clockwise
LEG_BOX_NORMALS = np.array([[0.0, -1.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
LEG_MASS, _, LEG_INERTIA = _polygon_mass(LEG_BOX, 1.0)
_rest_legs = _leg_geometry(np.zeros(2), np)[0]
MASS = HULL_MASS + 2 * LEG_MASS
CENTER = (HULL_MASS * HULL_CENTER + LEG_MASS * _rest_legs.sum(0)) / MASS
INERTIA = (
    HULL_INERTIA
    + HULL_MASS * np.sum((HULL_CENTER - CENTER) ** 2)
    + 2 * LEG_INERTIA
    + LEG_MASS * np.sum((_rest_legs - CENTER) ** 2)
)


@struct.dataclass
class LanderBody:
    """Box2D-equivalent state of the lander (world frame, metres, radians)."""

    position: jax.Array  # [2] hull body origin (= both leg joints)
    velocity: jax.Array  # [2] hull centre-of-mass velocity
    angle: jax.Array  # []
    angular_velocity: jax.Array  # []
    leg_compression: jax.Array  # [2] psi of legs[0], legs[1]


def _cross(a, b):
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _spin(omega, r):
    """omega x r for scalar omega and ``r [..., 2]``."""
    return jnp.stack([-omega * r[..., 1], omega * r[..., 0]], axis=-1)


def _pad(points, size):
    """Repeat the first point of ``points [k, 2]`` up to ``size`` rows."""
    return np.concatenate([points, np.repeat(points[:1], size - len(points), 0)])


# hull and both legs as 6-corner polygons (legs padded by a repeated corner)
_POLY_SIZE = len(HULL)
_HULL_AND_LEG_EDGES = (
    _pad(LEG_BOX_NORMALS, _POLY_SIZE),
    _pad(LEG_BOX, _POLY_SIZE),
)


def _contacts(terrain_y, position, angle, leg_compression):
    """Deepest ground contact of hull and each leg.

    Returns ``separation [3]``, ``point [3, 2]`` and ground ``normal [3, 2]`` for
    (hull, legs[0], legs[1]): the lowest corner against the ground polyline, or
    the ground vertex inside the part if that is deeper.
    """
    centers, leg_angles = _leg_geometry(leg_compression)
    leg_normals, leg_corners = _HULL_AND_LEG_EDGES
    angles = jnp.concatenate([jnp.zeros(1), leg_angles]) + angle
    local_corners = jnp.stack(
        [jnp.asarray(HULL, jnp.float32)]
        + [centers[k] + _rotate(leg_angles[k], leg_corners) for k in range(2)]
    )
    corners = position + _rotate(angle, local_corners)  # [3, 6, 2]
    normals = _rotate(
        angles[:, None], jnp.stack([HULL_NORMALS, leg_normals, leg_normals])
    )
    corner_sep, corner_normal = point_separation(terrain_y, corners)
    vertex = nearest_vertex(terrain_y, jnp.mean(corners[..., 0], axis=1))  # [3, 2]
    vertex_sep, vertex_normal = vertex_in_polygon(vertex, corners, normals)
    sep = jnp.concatenate([corner_sep, vertex_sep[:, None]], axis=1)  # [3, 7]
    point = jnp.concatenate([corners, vertex[:, None]], axis=1)
    normal = jnp.concatenate([corner_normal, vertex_normal[:, None]], axis=1)
    pick = jax.nn.one_hot(jnp.argmin(sep, axis=1), sep.shape[1])  # [3, 7]
    return (
        jnp.sum(pick * sep, axis=1),
        jnp.sum(pick[..., None] * point, axis=1),
        jnp.sum(pick[..., None] * normal, axis=1),
    )


def physics_step(
    body: LanderBody,
    terrain_y: jax.Array,
    impulses: jax.Array,
    impulse_points: jax.Array,
    force: jax.Array,
    torque: jax.Array,
    gravity: jax.Array,
):
    """Advance one 1/50 s step.

    Args: ``impulses [n, 2]`` applied at world ``impulse_points [n, 2]`` before
    the step (engines); ``force [2]`` at the hull's centre of mass and
    ``torque []`` for the step (wind); ``gravity []`` (negative, m/s^2);
    ``terrain_y [11]``.
    Returns ``(body, leg_contact [2] bool, hull_contact [] bool, still [] bool)``:
    contacts as Box2D's contact listener reports them for this step, and whether
    every body moved slower than Box2D's sleep tolerances.
    """
    center = body.position + _rotate(body.angle, CENTER)
    hull_offset = _rotate(body.angle, HULL_CENTER - CENTER)
    omega = body.angular_velocity
    velocity = body.velocity - _spin(omega, hull_offset)

    velocity = velocity + jnp.sum(impulses, axis=0) / MASS
    omega = omega + jnp.sum(_cross(impulse_points - center, impulses)) / INERTIA
    velocity = velocity + DT * (jnp.stack([0.0, gravity]) + force / MASS)
    omega = omega + DT * (torque + _cross(hull_offset, force)) / INERTIA

    psi = body.leg_compression
    seps, points, normals = _contacts(terrain_y, body.position, body.angle, psi)
    hull_sep, hull_point, hull_normal = seps[0], points[0], normals[0]
    leg_sep, points, normals = seps[1:], points[1:], normals[1:]
    tangents = jnp.stack([normals[:, 1], -normals[:, 0]], axis=1)
    arms = points - center
    joint_arms = points - body.position
    lever = LEG_COMPRESS_SIGN * _cross(joint_arms, normals)
    motor_rate = -jnp.minimum(LEG_MOTOR_SPEED, psi / DT)
    # foot velocity from the leg's own rotation, along normal / tangent
    motor_normal = motor_rate * lever
    motor_tangent = motor_rate * LEG_COMPRESS_SIGN * _cross(joint_arms, tangents)
    touching = leg_sep < TOUCH_MARGIN
    target = jnp.where(touching, 0.0, -(leg_sep + TOI_DEPTH) / DT)
    cap = jnp.where(
        (lever > 1e-3) & (psi < LEG_MAX_COMPRESSION),
        LEG_MOTOR_TORQUE * DT / jnp.maximum(lever, 1e-3),
        jnp.inf,
    )
    mass_n = 1.0 / (1.0 / MASS + _cross(arms, normals) ** 2 / INERTIA)
    mass_t = 1.0 / (1.0 / MASS + _cross(arms, tangents) ** 2 / INERTIA)

    def solve(_, carry):
        velocity, omega, lam_n, lam_t = carry
        lam_n, lam_t = list(lam_n), list(lam_t)
        for k in range(2):
            v_point = velocity + _spin(omega, arms[k])
            v_t = _dot(v_point, tangents[k]) + motor_tangent[k]
            bound = FRICTION * lam_n[k]
            new_t = jnp.clip(lam_t[k] - mass_t[k] * v_t, -bound, bound)
            d = (new_t - lam_t[k]) * tangents[k]
            velocity = velocity + d / MASS
            omega = omega + _cross(arms[k], d) / INERTIA
            lam_t[k] = new_t
            v_point = velocity + _spin(omega, arms[k])
            v_n = _dot(v_point, normals[k]) + motor_normal[k]
            new_n = jnp.clip(lam_n[k] - mass_n[k] * (v_n - target[k]), 0.0, cap[k])
            d = (new_n - lam_n[k]) * normals[k]
            velocity = velocity + d / MASS
            omega = omega + _cross(arms[k], d) / INERTIA
            lam_n[k] = new_n
        return velocity, omega, tuple(lam_n), tuple(lam_t)

    zero = jnp.zeros(())
    velocity, omega, lam_n, _ = jax.lax.fori_loop(
        0, SOLVER_ITERATIONS, solve, (velocity, omega, (zero, zero), (zero, zero))
    )
    lam_n = jnp.stack(lam_n)

    pressed = lam_n > 0.0
    v_rigid = _dot(velocity + _spin(omega, arms), normals)
    yield_rate = (target - v_rigid) / jnp.maximum(lever, 1e-3)
    psi_rate = jnp.where(
        pressed & jnp.isfinite(cap), jnp.maximum(motor_rate, yield_rate), motor_rate
    )
    leg_contact = touching | pressed

    # Box2D caps the motion per step (b2_maxTranslation, b2_maxRotation)
    speed = jnp.sqrt(_dot(velocity, velocity))
    velocity = velocity * jnp.minimum(1.0, MAX_TRANSLATION / (DT * speed + 1e-12))
    omega = jnp.clip(omega, -MAX_ROTATION / DT, MAX_ROTATION / DT)

    hull_speed = _dot(velocity + _spin(omega, hull_point - center), hull_normal)
    hull_contact = (hull_sep < TOUCH_MARGIN) | (hull_sep + DT * hull_speed < -TOI_DEPTH)

    center = center + DT * velocity
    angle = body.angle + DT * omega
    psi = jnp.clip(psi + DT * psi_rate, 0.0, LEG_MAX_COMPRESSION)
    position = center - _rotate(angle, CENTER)
    hull_velocity = velocity + _spin(omega, _rotate(angle, HULL_CENTER - CENTER))

    leg_centers, _ = _leg_geometry(psi)
    leg_omega = omega + LEG_COMPRESS_SIGN * psi_rate
    leg_velocity = (
        velocity[None, :]
        + _spin(omega, position - center)[None, :]
        + _spin(leg_omega, _rotate(angle, leg_centers))
    )
    still = (
        (_dot(hull_velocity, hull_velocity) <= LINEAR_SLEEP_TOL**2)
        & (omega * omega <= ANGULAR_SLEEP_TOL**2)
        & jnp.all(_dot(leg_velocity, leg_velocity) <= LINEAR_SLEEP_TOL**2)
        & jnp.all(leg_omega**2 <= ANGULAR_SLEEP_TOL**2)
    )
    new_body = LanderBody(
        position=position,
        velocity=hull_velocity,
        angle=angle,
        angular_velocity=omega,
        leg_compression=psi,
    )
    return new_body, leg_contact, hull_contact, still
