"""LunarLander terrain: random piecewise-linear ground with a flat helipad.

Same generation rule as Gymnasium's LunarLander-v3: ``CHUNKS = 11`` chunk
heights ``U(0, H/2)`` (12 draws), the five around the middle set to the
helipad height ``H/4``, then smoothed as ``0.33 * (h[i-1] + h[i] + h[i+1])``
(index ``-1`` wraps to the last draw, as Python indexing does there). The ground
is the polyline through ``(chunk_x[i], terrain_y[i])``, ``i = 0..10``.

Queries here measure signed separations between lander points/polygons and the
ground, as Box2D's manifold separation (positive = apart).
"""

import jax
import jax.numpy as jnp
import numpy as np

SCALE = 30.0
VIEWPORT_W = 600
VIEWPORT_H = 400
WORLD_W = VIEWPORT_W / SCALE  # 20 m
WORLD_H = VIEWPORT_H / SCALE  # 13.33 m
CHUNKS = 11
CHUNK_W = WORLD_W / (CHUNKS - 1)  # 2 m
CHUNK_X = np.array([CHUNK_W * i for i in range(CHUNKS)], dtype=np.float32)
HELIPAD_Y = WORLD_H / 4
HELIPAD_X1 = float(CHUNK_X[CHUNKS // 2 - 1])
HELIPAD_X2 = float(CHUNK_X[CHUNKS // 2 + 1])


def smooth_terrain(height: jax.Array) -> jax.Array:
    """Raw chunk heights ``[12]`` -> smoothed ground heights ``[11]`` with the
    helipad chunks ``3..7`` flattened to ``H/4`` first."""
    mid = CHUNKS // 2
    height = height.at[mid - 2 : mid + 3].set(HELIPAD_Y)
    previous = jnp.roll(height, 1)[:CHUNKS]  # index -1 wraps to height[11]
    return 0.33 * (previous + height[:CHUNKS] + height[1 : CHUNKS + 1])


def _segment(terrain_y: jax.Array, x: jax.Array):
    """Ground segment under ``x [...]``: start point ``[..., 2]``, unit normal
    ``[..., 2]`` pointing up out of the ground."""
    index = jnp.clip(jnp.floor(x / CHUNK_W).astype(jnp.int32), 0, CHUNKS - 2)
    x0 = index.astype(jnp.float32) * CHUNK_W
    y0 = terrain_y[index]
    dy = terrain_y[index + 1] - y0
    norm = jnp.sqrt(dy * dy + CHUNK_W * CHUNK_W)
    normal = jnp.stack([-dy / norm, CHUNK_W / norm], axis=-1)
    return jnp.stack([x0, y0], axis=-1), normal


def point_separation(terrain_y: jax.Array, points: jax.Array):
    """Signed distance of ``points [..., 2]`` above the ground segment under each.

    Returns ``(separation [...], normal [..., 2])``; the normal points out of the
    ground (the direction the ground pushes a body).
    """
    start, normal = _segment(terrain_y, points[..., 0])
    d = points - start
    return d[..., 0] * normal[..., 0] + d[..., 1] * normal[..., 1], normal


def nearest_vertex(terrain_y: jax.Array, x: jax.Array) -> jax.Array:
    """The ground vertex ``[..., 2]`` nearest in x to ``x [...]``. Chunks are 2 m
    wide and every lander part narrower than that, so it is the only vertex that
    can poke into the part."""
    index = jnp.clip(jnp.round(x / CHUNK_W).astype(jnp.int32), 0, CHUNKS - 1)
    return jnp.stack([index.astype(jnp.float32) * CHUNK_W, terrain_y[index]], -1)


def vertex_in_polygon(vertex: jax.Array, corners: jax.Array, normals: jax.Array):
    """Separation of ground vertices ``[..., 2]`` from convex polygons given by
    world ``corners [..., k, 2]`` and outward edge ``normals [..., k, 2]`` (edge
    e starts at corner e). Returns ``(separation [...], push_normal [..., 2])``:
    the least-penetrated edge's distance and the direction the ground pushes
    the polygon (minus that edge's normal)."""
    d = vertex[..., None, :] - corners
    distances = d[..., 0] * normals[..., 0] + d[..., 1] * normals[..., 1]
    pick = jax.nn.one_hot(jnp.argmax(distances, axis=-1), distances.shape[-1])
    return jnp.sum(pick * distances, -1), -jnp.sum(pick[..., None] * normals, -2)
