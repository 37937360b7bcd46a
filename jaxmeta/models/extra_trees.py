"""Extremely randomised trees for regression (Geurts, Ernst, Wehenkel 2006).

Each tree grows breadth-first in a fixed-size node array. Every sample carries the
id of the node it sits in; one level of growth computes, with segment sums over the
samples, the statistics of K random candidate splits of every frontier node at once
(O(n K) work per level, no per-node Python loop). A candidate is a random feature
among those not constant in the node (drawn without replacement, as scikit-learn
does) and a threshold uniform between the node's min and max of that feature; the
node keeps the candidate with the largest reduction of the weighted squared error.

Children are allocated in pairs at the end of the array, so a tree of n samples
needs at most 2n - 1 nodes. A leaf stores the weighted mean of its samples.
Prediction walks `max_depth` gather steps; leaves point to themselves.

Zero weights mark padding, so ragged datasets vmap after padding to one size.
Under `jax.vmap` the datasets (and each chunk of `trees_per_batch` trees) become
independent trees of one flat problem: node j of tree p is segment p * max_nodes + j,
so every scatter stays a plain 1-D scatter (vmapped scatters are much slower on
CPU). The random numbers of a tree depend only on its seed and node ids, so a
vmapped fit equals the single fits exactly.
"""

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxmeta.types import Array, Key


class ForestParams(NamedTuple):
    feature: Array  # [num_trees, max_nodes] int32, -1 at leaves
    threshold: Array  # [num_trees, max_nodes] go right when x[feature] > threshold
    left_child: Array  # [num_trees, max_nodes] int32; right child = left + 1
    value: Array  # [num_trees, max_nodes] weighted mean of the leaf's samples


@dataclasses.dataclass(frozen=True)
class ExtraTrees:
    """Static config of an extra-trees regression forest.

    num_trees: M, trees averaged.
    max_features: K, candidate splits per node; None = all input features (the
        regression default of Geurts et al.).
    min_samples_split: n_min; an int >= 2 (absolute) or a float psi in (0, 1], in
        which case n_min = max(2, ceil(psi * number of samples with weight > 0)).
    max_depth: levels grown at most (also the loop length of `predict`).
    trees_per_batch: trees grown side by side as one flat problem; chunks of them
        run one after another, which bounds memory at O(trees_per_batch * n * K)
        per dataset.
    """

    num_trees: int = 50
    max_features: int | None = None
    min_samples_split: int | float = 2
    max_depth: int = 32
    trees_per_batch: int = 1

    def __post_init__(self):
        _check_int("num_trees", self.num_trees, 1)
        if self.max_features is not None:
            _check_int("max_features", self.max_features, 1)
        split = self.min_samples_split
        if isinstance(split, float):
            if not 0.0 < split <= 1.0:
                raise ValueError(
                    f"min_samples_split={split}: a float must lie in (0, 1]"
                )
        else:
            _check_int("min_samples_split", split, 2)
        _check_int("max_depth", self.max_depth, 1)
        _check_int("trees_per_batch", self.trees_per_batch, 1)

    def fit(self, key: Key, x: Array, y: Array, weights: Array | None = None):
        """Grow the forest.

        x: [n, input_dim]; y: [n]; weights: [n] >= 0, 0 = padding (default ones).
        Returns ForestParams with leaves [num_trees, max_nodes],
        max_nodes = min(2n - 1, 2^(max_depth + 1) - 1).
        """
        n, input_dim = x.shape
        num_features = self.max_features or input_dim
        if num_features > input_dim:
            raise ValueError(
                f"max_features={num_features} exceeds the input dimension {input_dim}"
            )
        x = jnp.asarray(x, jnp.float32)
        y = jnp.asarray(y, jnp.float32)
        weights = (
            jnp.ones(n, jnp.float32)
            if weights is None
            else jnp.asarray(weights, jnp.float32)
        )
        seeds = jax.random.bits(key, (self.num_trees,), jnp.uint32)
        max_nodes = min(2 * n - 1, 2 ** (self.max_depth + 1) - 1)
        fit_datasets = _merge_vmapped_axes(
            functools.partial(_grow_forest, self, num_features, max_nodes)
        )
        params = fit_datasets(seeds[None], x[None], y[None], weights[None])
        return jax.tree.map(lambda leaf: leaf[0], params)

    def predict(self, params: ForestParams, x: Array) -> Array:
        """Mean prediction of the trees. x: [m, input_dim] -> [m]."""
        x = jnp.asarray(x, jnp.float32)
        per_tree = jax.vmap(_predict_tree, in_axes=(0, None, None))(
            params, x, self.max_depth
        )
        return jnp.mean(per_tree, axis=0)


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}={value!r}: must be an int >= {minimum}")


def _merge_vmapped_axes(fit_datasets):
    """Wraps fit_datasets (every argument and output has one leading dataset
    axis) so that vmapping it merges the vmapped axis into the dataset axis:
    vmapping the segment scatters themselves is several times slower on CPU."""

    @jax.custom_batching.custom_vmap
    def fit(*args):
        return fit_datasets(*args)

    @fit.def_vmap
    def merged(axis_size, in_batched, *args):
        args = [
            arg if batched else jnp.broadcast_to(arg, (axis_size, *arg.shape))
            for arg, batched in zip(args, in_batched, strict=True)
        ]
        out = fit(*(arg.reshape(-1, *arg.shape[2:]) for arg in args))
        out = jax.tree.map(
            lambda leaf: leaf.reshape(axis_size, -1, *leaf.shape[1:]), out
        )
        return out, jax.tree.map(lambda _: True, out)

    return fit


def _grow_forest(config, num_features, max_nodes, seeds, x, y, weights):
    """Forests for a batch of datasets. seeds: [B, M] uint32; x: [B, n, d];
    y, weights: [B, n] -> ForestParams of [B, M, max_nodes]."""
    num_datasets, n, _ = x.shape
    split = config.min_samples_split
    if isinstance(split, float):
        num_valid = jnp.sum(weights > 0, axis=1)
        min_split = jnp.maximum(2.0, jnp.ceil(split * num_valid - 1e-6))
    else:
        min_split = jnp.full(num_datasets, split, jnp.float32)
    per_chunk = min(config.trees_per_batch, config.num_trees)
    num_chunks = -(-config.num_trees // per_chunk)
    padding = num_chunks * per_chunk - config.num_trees
    seeds = jnp.pad(seeds, ((0, 0), (0, padding)))
    seeds = seeds.reshape(num_datasets, num_chunks, per_chunk).transpose(1, 0, 2)

    def per_tree(values):
        return jnp.repeat(values, per_chunk, axis=0)

    def grow_chunk(chunk_seeds):  # [B, per_chunk] -> [B * per_chunk, max_nodes]
        return _grow_trees(
            chunk_seeds.reshape(-1), per_tree(x), per_tree(y), per_tree(weights),
            per_tree(min_split), num_features, config.max_depth, max_nodes,
        )  # fmt: skip

    if num_chunks == 1:
        trees = jax.tree.map(lambda leaf: leaf[None], grow_chunk(seeds[0]))
    else:
        trees = jax.lax.map(grow_chunk, seeds)

    def by_dataset(leaf):  # [chunks, B * per_chunk, N] -> [B, M, N]
        leaf = leaf.reshape(num_chunks, num_datasets, per_chunk, max_nodes)
        leaf = leaf.transpose(1, 0, 2, 3).reshape(num_datasets, -1, max_nodes)
        return leaf[:, : config.num_trees]

    return jax.tree.map(by_dataset, trees)


def _grow_trees(seeds, x, y, weights, min_split, num_features, max_depth, max_nodes):
    """P independent trees, flattened so every scatter is one plain 1-D scatter.

    seeds: [P] uint32; x: [P, n, d]; y, weights: [P, n]; min_split: [P]
    -> ForestParams of [P, max_nodes]. Node ids are local to a tree; the flat
    segment of node j of tree p is p * max_nodes + j.
    """
    num_trees, n, input_dim = x.shape
    total = num_trees * max_nodes
    x = x.reshape(-1, input_dim)
    y, weights = y.reshape(-1), weights.reshape(-1)
    valid = weights > 0
    valid_float = valid.astype(jnp.float32)
    sample_offset = jnp.repeat(jnp.arange(num_trees) * max_nodes, n)
    local_ids = jnp.tile(jnp.arange(max_nodes), num_trees)
    node_tree = jnp.repeat(jnp.arange(num_trees), max_nodes)
    node_min_split = jnp.repeat(min_split, max_nodes)
    row_seed = jnp.repeat(seeds, max_nodes)[:, None]
    counter_hash = jnp.tile(
        _mix32(jnp.arange(max_nodes * input_dim, dtype=jnp.uint32)).reshape(
            max_nodes, input_dim
        ),
        (num_trees, 1),
    )
    # Padding must not move a node's min/max; one max-scatter gives every min
    # and max because min(v) = -max(-v).
    extremes = jnp.concatenate(
        [
            jnp.where(valid[:, None], -x, -jnp.inf),
            jnp.where(valid[:, None], x, -jnp.inf),
            jnp.where(valid, -y, -jnp.inf)[:, None],
            jnp.where(valid, y, -jnp.inf)[:, None],
        ],
        1,
    )
    total_weight = jax.ops.segment_sum(weights, sample_offset // max_nodes, num_trees)
    weighted_y = jax.ops.segment_sum(weights * y, sample_offset // max_nodes, num_trees)

    def level(state):
        depth, node, feature, threshold, left_child, count, weight, mean = state[:8]
        start, end = state[8:]
        flat = node + sample_offset  # [P * n]
        # Samples outside the frontier get an out-of-range id: scatters drop them.
        frontier = jnp.where(node >= jnp.repeat(start, n), flat, total)
        high = jax.ops.segment_max(extremes, frontier, num_segments=total, mode="drop")
        x_low, x_high = -high[:, :input_dim], high[:, input_dim : 2 * input_dim]
        y_low, y_high = -high[:, -2], high[:, -1]
        usable = x_high > x_low  # [total, d]; constant features are skipped

        if num_features == input_dim:
            candidates = jnp.broadcast_to(jnp.arange(input_dim), usable.shape)
            low, high_k, usable_k = x_low, x_high, usable
            x_candidates = x
        else:
            # K distinct features, non-constant ones first, in random order.
            priority = _hash_uniform(counter_hash, row_seed, 2 * depth)
            priority = priority + jnp.where(usable, 0.0, 2.0)
            _, candidates = jax.lax.top_k(-priority, num_features)
            low = jnp.take_along_axis(x_low, candidates, 1)
            high_k = jnp.take_along_axis(x_high, candidates, 1)
            usable_k = jnp.take_along_axis(usable, candidates, 1)
            x_candidates = jnp.take_along_axis(x, candidates[flat], 1)  # [P n, K]
        u = _hash_uniform(counter_hash[:, :num_features], row_seed, 2 * depth + 1)
        cut = jnp.where(usable_k, low + u * (high_k - low), 0.0)  # [total, K]

        goes_left = (x_candidates <= cut[flat]).astype(jnp.float32)  # [P n, K]
        # Residuals about the node mean keep the float32 gain well conditioned.
        residual = weights * (y - mean[flat])
        per_sample = jnp.stack([valid_float, weights, residual], 1)
        left = jax.ops.segment_sum(
            goes_left[:, None, :] * per_sample[:, :, None],
            frontier,
            num_segments=total,
            mode="drop",
        )  # [total, 3, K]
        count_left, weight_left, residual_left = left[:, 0], left[:, 1], left[:, 2]
        count_right = count[:, None] - count_left
        weight_right = weight[:, None] - weight_left
        allowed = usable_k & (count_left > 0) & (count_right > 0)
        # Squared-error reduction R_L^2 W / (W_L W_R), R = sum of residuals.
        gain = residual_left**2 * weight[:, None]
        gain = gain / jnp.maximum(weight_left * weight_right, 1e-30)
        best = jnp.argmax(jnp.where(allowed, gain, -1.0), axis=1)

        split = (
            (local_ids >= start[node_tree])
            & (local_ids < end[node_tree])
            & (count >= node_min_split)
            & (y_high > y_low)
            & jnp.any(allowed, axis=1)
        )
        split_int = split.astype(jnp.int32).reshape(num_trees, max_nodes)
        rank = (jnp.cumsum(split_int, axis=1) - split_int).reshape(-1)
        new_left = end[node_tree] + 2 * rank  # local id of the left child
        rows = jnp.arange(total)

        def pick(stat):
            return stat[rows, best]

        feature = jnp.where(split, pick(candidates), feature)
        threshold = jnp.where(split, pick(cut), threshold)
        left_child = jnp.where(split, new_left, left_child)
        slot = jnp.where(split, new_left + node_tree * max_nodes, total)
        w_left, w_right = pick(weight_left), pick(weight_right)
        r_left = pick(residual_left)
        count = count.at[slot].set(pick(count_left), mode="drop")
        count = count.at[slot + 1].set(pick(count_right), mode="drop")
        weight = weight.at[slot].set(w_left, mode="drop")
        weight = weight.at[slot + 1].set(w_right, mode="drop")
        mean_left = mean + r_left / jnp.maximum(w_left, 1e-30)
        mean_right = mean - r_left / jnp.maximum(w_right, 1e-30)
        mean = mean.at[slot].set(mean_left, mode="drop")
        mean = mean.at[slot + 1].set(mean_right, mode="drop")

        x_at_split = jnp.take_along_axis(x, jnp.maximum(feature[flat], 0)[:, None], 1)
        goes_right = (x_at_split[:, 0] > threshold[flat]).astype(jnp.int32)
        node = jnp.where(split[flat], left_child[flat] + goes_right, node)
        new_end = end + 2 * jnp.sum(split_int, axis=1)
        return (
            depth + 1, node, feature, threshold, left_child,
            count, weight, mean, end, new_end,
        )  # fmt: skip

    def growing(state):
        depth, start, end = state[0], state[-2], state[-1]
        return (depth < max_depth) & jnp.any(end > start)

    zeros = jnp.zeros(total, jnp.float32)
    roots = jnp.arange(num_trees) * max_nodes
    init = (
        jnp.int32(0),
        jnp.zeros(num_trees * n, jnp.int32),
        jnp.full(total, -1, jnp.int32),
        zeros,
        jnp.zeros(total, jnp.int32),
        zeros.at[roots].set(jnp.sum(valid_float.reshape(num_trees, n), axis=1)),
        zeros.at[roots].set(total_weight),
        zeros.at[roots].set(weighted_y / jnp.maximum(total_weight, 1e-30)),
        jnp.zeros(num_trees, jnp.int32),
        jnp.ones(num_trees, jnp.int32),
    )
    # A while loop stops at the deepest leaf; fitting is never differentiated.
    _, node, feature, threshold, left_child, *_ = jax.lax.while_loop(
        growing, level, init
    )
    leaf_weight, leaf_weighted_y = jax.ops.segment_sum(
        jnp.stack([weights, weights * y], 1),
        node + sample_offset,
        num_segments=total,
    ).T
    value = jnp.where(
        leaf_weight > 0, leaf_weighted_y / jnp.maximum(leaf_weight, 1e-30), 0.0
    )
    tree_params = ForestParams(feature, threshold, left_child, value)
    return jax.tree.map(lambda leaf: leaf.reshape(num_trees, max_nodes), tree_params)


def _mix32(bits):
    """Low-bias 32-bit integer finaliser (C. Wellons' hash-prospector)."""
    bits = bits ^ (bits >> 16)
    bits = bits * jnp.uint32(0x7FEB352D)
    bits = bits ^ (bits >> 15)
    bits = bits * jnp.uint32(0x846CA68B)
    return bits ^ (bits >> 16)


def _hash_uniform(counter_hash, seed, stream):
    """Uniform [0, 1) floats shaped like counter_hash, for (seed, stream).

    Threefry costs ~20x more per number on CPU, and one number per (node,
    candidate) per level dominated the fit. counter_hash = _mix32(arange) is loop
    invariant; one more mixing round keyed by the tree's jax.random bits and the
    stream decorrelates the levels.
    """
    stream_key = _mix32(
        seed ^ _mix32(jnp.asarray(stream).astype(jnp.uint32) + jnp.uint32(0x9E3779B9))
    )
    bits = _mix32(counter_hash ^ stream_key)
    return (bits >> 8).astype(jnp.float32) * (1.0 / (1 << 24))


def _predict_tree(tree: ForestParams, x: Array, max_depth: int) -> Array:
    """One tree's prediction. x: [m, d] -> [m]."""

    def step(_, node):
        feature = tree.feature[node]
        x_at = jnp.take_along_axis(x, jnp.maximum(feature, 0)[:, None], 1)[:, 0]
        child = tree.left_child[node] + (x_at > tree.threshold[node])
        return jnp.where(feature < 0, node, child)

    node = jax.lax.fori_loop(0, max_depth, step, jnp.zeros(x.shape[0], jnp.int32))
    return tree.value[node]
