"""Shuffled minibatches from a flat batch with a single gather.

Under `vmap` each member shuffles with its own permutation, and XLA on CPU runs
a batched gather index by index; gathering every field separately multiplied
that cost by the number of fields. The fields are packed into one float32 matrix
(integer actions are exact in float32 below 2^24), gathered once and unpacked.
"""

import jax
import jax.numpy as jnp


def shuffled_minibatches(key, batch: dict, num_minibatches: int) -> dict:
    """batch: {name: [B, ...]} -> {name: [num_minibatches, B // num_minibatches,
    ...]} in one random order shared by all fields."""
    names = sorted(batch)
    size = batch[names[0]].shape[0]
    columns = [batch[n].reshape(size, -1).astype(jnp.float32) for n in names]
    widths = [c.shape[1] for c in columns]
    packed = jnp.concatenate(columns, axis=1)
    # One unstable sort of random keys (jax.random.permutation sorts twice here,
    # stably); ties only reorder tied indices, the result is a permutation.
    order = jnp.argsort(jax.random.uniform(key, (size,)), stable=False)
    shuffled = packed[order]
    shuffled = shuffled.reshape(num_minibatches, size // num_minibatches, -1)
    out, start = {}, 0
    for name, width in zip(names, widths, strict=True):
        field = shuffled[..., start : start + width]
        shape = shuffled.shape[:2] + batch[name].shape[1:]
        out[name] = field.reshape(shape).astype(batch[name].dtype)
        start += width
    return out
