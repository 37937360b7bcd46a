"""The best of K random cuts for every splittable node of a level (extra trees).

A candidate is a random feature among those not constant in the node (drawn
without replacement, as scikit-learn does) and a cut uniform between the node's
min and max of that feature; a node keeps the candidate with the largest
reduction of the weighted squared error. Both reductions over a node's samples
are segment reductions over the positions (slot = the node's compact index).
"""

import jax
import jax.numpy as jnp

from jaxmeta.types import Array

NEG_INF = -jnp.inf


def best_splits(
    data, slot, safe_slot, slot_mean, live, seed, depth, num_features,
    slots_per_tree, input_dim,
):  # fmt: skip
    """data: [rows, width] (x [d], y, weight, padding) in position order;
    slot: [rows] compact node index (slots = not splitting); safe_slot: slot
    clipped to slots - 1; slot_mean: [slots] the node means; live: [slots]
    bool; seed: [P, 1, 1] uint32; depth: int32 scalar.

    Returns split [slots] bool, feature [slots] int32, threshold [slots] and the
    chosen cut's (weight left, residual left, weight, residual) sums, [slots]
    each, residuals taken about slot_mean.
    """
    slots = slot_mean.shape[0]
    xs, ys, ws = data[:, :input_dim], data[:, input_dim], data[:, input_dim + 1]
    valid = ws > 0
    # One max-scatter gives every min and max: min(v) = -max(-v). Broadcasting
    # against the signs (not concatenating) keeps XLA's CPU loops vectorised.
    signs = jnp.array([-1.0, 1.0], jnp.float32)[None, :, None]
    extremes = jnp.where(
        valid[:, None, None], data[:, None, : input_dim + 1] * signs, NEG_INF
    )  # [rows, 2, d + 1]: -x, -y then x, y
    high = jax.ops.segment_max(extremes, slot, slots, mode="drop")
    x_low, x_high = -high[:, 0, :input_dim], high[:, 1, :input_dim]
    pure = ~(high[:, 1, input_dim] > -high[:, 0, input_dim])
    usable = x_high > x_low  # constant features (and empty slots) are skipped

    counter = _mix32(jnp.arange(slots_per_tree * input_dim, dtype=jnp.uint32))
    counter = counter.reshape(1, slots_per_tree, input_dim)
    if num_features == input_dim:
        candidates = jnp.broadcast_to(jnp.arange(input_dim), usable.shape)
        low, top, usable_k = x_low, x_high, usable
        x_candidates = xs
    else:
        # K distinct features, non-constant ones first, in random order.
        priority = _hash_uniform(counter, seed, 2 * depth).reshape(usable.shape)
        priority = priority + jnp.where(usable, 0.0, 2.0)
        _, candidates = jax.lax.top_k(-priority, num_features)
        low = jnp.take_along_axis(x_low, candidates, 1)
        top = jnp.take_along_axis(x_high, candidates, 1)
        usable_k = jnp.take_along_axis(usable, candidates, 1)
        x_candidates = jnp.take_along_axis(xs, candidates[safe_slot], 1)
    u = _hash_uniform(counter[..., :num_features], seed, 2 * depth + 1)
    cut = low + u.reshape(slots, num_features) * (top - low)
    # u < 1, but the sum may round up to the max: then all would go left. With
    # the cut below the max, the node's min goes left and its max right.
    cut = jnp.where(usable_k, jnp.where(cut < top, cut, low), 0.0)

    goes_left = x_candidates <= cut[safe_slot]  # [rows, K]
    # Residuals about the node mean keep the float32 gain well conditioned.
    residual = ws * (ys - slot_mean[safe_slot])
    per_sample = jnp.stack([ws, residual], 1)  # [rows, 2]
    left_sums = jax.ops.segment_sum(
        jnp.where(goes_left[:, None, :], per_sample[:, :, None], 0.0),
        slot,
        slots,
        mode="drop",
    )  # [slots, 2, K]
    weight_left, residual_left = left_sums[:, 0], left_sums[:, 1]
    weight, residual_sum = jax.ops.segment_sum(per_sample, slot, slots, mode="drop").T
    weight_right = jnp.maximum(weight[:, None] - weight_left, 1e-30)
    residual_right = residual_sum[:, None] - residual_left
    # Squared-error reduction up to the node's own term, the same for all cuts.
    gain = (
        residual_left**2 / jnp.maximum(weight_left, 1e-30)
        + residual_right**2 / weight_right
    )
    best = jnp.argmax(jnp.where(usable_k, gain, NEG_INF), axis=1)
    split = live & ~pure & jnp.any(usable_k, axis=1)

    def pick(values):
        return jnp.take_along_axis(values, best[:, None], 1)[:, 0]

    chosen = (pick(weight_left), pick(residual_left), weight, residual_sum)
    return split, pick(candidates), pick(cut), chosen


def _mix32(bits: Array) -> Array:
    """Low-bias 32-bit integer finaliser (C. Wellons' hash-prospector)."""
    bits = bits ^ (bits >> 16)
    bits = bits * jnp.uint32(0x7FEB352D)
    bits = bits ^ (bits >> 15)
    bits = bits * jnp.uint32(0x846CA68B)
    return bits ^ (bits >> 16)


def _hash_uniform(counter_hash: Array, seed: Array, stream) -> Array:
    """Uniform [0, 1) floats of shape broadcast(counter_hash, seed).

    Threefry costs ~20x more per number on CPU. counter_hash = _mix32(counter);
    one more mixing round keyed by the tree's jax.random bits and the stream
    (two per level) decorrelates trees and levels.
    """
    stream_key = _mix32(
        seed ^ _mix32(jnp.asarray(stream).astype(jnp.uint32) + jnp.uint32(0x9E3779B9))
    )
    bits = _mix32(counter_hash ^ stream_key)
    return (bits >> 8).astype(jnp.float32) * (1.0 / (1 << 24))
