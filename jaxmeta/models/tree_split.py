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
    signed, targets, slot, safe_slot, slot_mean, live, seed, depth,
    num_features, slots_per_tree, input_dim,
):  # fmt: skip
    """signed: [rows, 2, width] each row's -x, -y then x, y (`signed_table`)
    and targets: [rows, 2] its (y, weight), in position order;
    slot: [rows] compact node index (slots = not splitting); safe_slot: slot
    clipped to slots - 1; slot_mean: [slots] the node means; live: [slots]
    bool; seed: [P, 1, 1] uint32; depth: int32 scalar.

    Returns split [slots] bool, feature [slots] int32, threshold [slots] and the
    chosen cut's (weight left, residual left, weight, residual) sums, [slots]
    each, residuals taken about slot_mean.
    """
    slots = slot_mean.shape[0]
    width, padded = signed.shape[-1], _round8(num_features)
    ys, ws = targets[:, 0], targets[:, 1]
    # One max-scatter gives every min and max: min(v) = -max(-v).
    high = jax.ops.segment_max(signed, slot, slots, mode="drop")
    x_low, x_high = -high[:, 0], high[:, 1]
    pure = ~(x_high[:, input_dim] > x_low[:, input_dim])
    # Constant features (and empty slots) are skipped.
    usable = (x_high > x_low) & (jnp.arange(width) < input_dim)

    counter = jnp.arange(slots_per_tree)[:, None] * input_dim + jnp.arange(width)
    counter = _mix32(counter.astype(jnp.uint32))[None]  # [1, slots_per_tree, width]
    if num_features == input_dim:
        candidates = jnp.broadcast_to(jnp.arange(padded), (slots, padded))
        low, top, usable_k = x_low[:, :padded], x_high[:, :padded], usable[:, :padded]
        x_candidates = signed[:, 1, :padded]
    else:
        # K distinct features, non-constant ones first, in random order.
        priority = _hash_uniform(counter, seed, 2 * depth).reshape(usable.shape)
        priority = priority + jnp.where(usable, 0.0, 2.0)
        priority = jnp.where(jnp.arange(width) < input_dim, priority, 4.0)
        _, candidates = jax.lax.top_k(-priority, num_features)
        filler = jnp.full((slots, padded - num_features), input_dim)
        candidates = jnp.concatenate([candidates, filler], 1)
        low = jnp.take_along_axis(x_low, candidates, 1)
        top = jnp.take_along_axis(x_high, candidates, 1)
        usable_k = jnp.take_along_axis(usable, candidates, 1)
        x_candidates = jnp.take_along_axis(signed[:, 1], candidates[safe_slot], 1)
    u = _hash_uniform(counter[..., :padded], seed, 2 * depth + 1)
    cut = low + u.reshape(slots, padded) * (top - low)
    # u < 1, but the sum may round up to the max: then all would go left. With
    # the cut below the max, the node's min goes left and its max right.
    cut = jnp.where(usable_k, jnp.where(cut < top, cut, low), 0.0)

    goes_left = x_candidates <= cut[safe_slot]  # [rows, padded]
    if padded > num_features:  # a padding column sums the whole node
        goes_left = goes_left | (jnp.arange(padded) == num_features)
    # Residuals about the node mean keep the float32 gain well conditioned.
    residual = ws * (ys - slot_mean[safe_slot])
    per_sample = jnp.stack([ws, residual], 1)  # [rows, 2]
    left_sums = jax.ops.segment_sum(
        jnp.where(goes_left[:, None, :], per_sample[:, :, None], 0.0),
        slot,
        slots,
        mode="drop",
    )  # [slots, 2, padded]
    weight_left, residual_left = left_sums[:, 0], left_sums[:, 1]
    if padded > num_features:
        weight, residual_sum = (
            weight_left[:, num_features],
            residual_left[:, num_features],
        )
    else:
        sums = jax.ops.segment_sum(per_sample, slot, slots, mode="drop")
        weight, residual_sum = sums[:, 0], sums[:, 1]
    weight_right = jnp.maximum(weight[:, None] - weight_left, 1e-30)
    residual_right = residual_sum[:, None] - residual_left
    # Squared-error reduction up to the node's own term, the same for all cuts.
    gain = (
        residual_left**2 / jnp.maximum(weight_left, 1e-30)
        + residual_right**2 / weight_right
    )
    best = _first_max(jnp.where(usable_k, gain, NEG_INF))
    split = live & ~pure & jnp.any(usable_k, axis=1)

    def pick(values):
        return jnp.take_along_axis(values, best[:, None], 1)[:, 0]

    chosen = (pick(weight_left), pick(residual_left), weight, residual_sum)
    return split, pick(candidates), pick(cut), chosen


def signed_table(x: Array, y: Array, weights: Array) -> Array:
    """x: [..., n, d]; y, weights: [..., n] -> [..., n, 2, round8(d + 1)]: -x,
    -y then x, y, -inf for padding (weight 0), and the rows padded to a multiple
    of 8 numbers (so they gather, select and scatter up to 3x faster on CPU)
    with columns that are never usable."""
    values = jnp.concatenate([x, y[..., None]], -1)
    padding = [(0, 0)] * (values.ndim - 1) + [(0, -values.shape[-1] % 8)]
    values = jnp.pad(values, padding)[..., None, :]
    signs = jnp.array([[-1.0], [1.0]], jnp.float32)
    return jnp.where(weights[..., None, None] > 0, values * signs, NEG_INF)


def _first_max(values: Array) -> Array:
    """jnp.argmax(values, axis=1) (the first max, or the first NaN) as two
    plain reductions: XLA's CPU loop for argmax's paired one is slower."""
    top = jnp.max(values, axis=1, keepdims=True)
    hit = (values == top) | jnp.isnan(values)
    index = jnp.arange(values.shape[1])
    return jnp.min(jnp.where(hit, index, values.shape[1]), axis=1)


def _round8(size: int) -> int:
    return -(-size // 8) * 8


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
