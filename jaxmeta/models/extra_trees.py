"""Extremely randomised trees for regression (Geurts, Ernst, Wehenkel 2006).

A candidate split is a random feature among those not constant in the node (drawn
without replacement, as scikit-learn does) and a threshold uniform between the
node's min and max of that feature; each node keeps the best of K candidates by
reduction of the weighted squared error, and stops below n_min samples, when its
targets are constant, or at `max_depth`.

Trees grow breadth-first: one level of every tree is a handful of segment
reductions over the samples of its splittable nodes (`tree_growth.py`,
`tree_split.py`, `tree_partition.py`), with no per-node Python loop. Children
are allocated in pairs after the level's nodes, so a tree of
n samples needs at most 2n - 1 nodes; a leaf stores the weighted mean of its
samples. Prediction walks `max_depth` gather steps; leaves point to themselves.

Zero weights mark padding, so ragged datasets vmap after padding to one size.
Under `jax.vmap` the datasets merge into one list of B * M trees, grown
`trees_per_batch` at a time, so scatters stay plain scatters (vmapped scatters
are much slower on CPU). The random numbers of a tree depend only on its seed and
its nodes, so a vmapped fit equals the single fits exactly.
"""

import dataclasses
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxmeta.models.tree_growth import grow_trees
from jaxmeta.models.tree_split import signed_table
from jaxmeta.types import Array, Key

# Prediction checks whether every point has reached a leaf this often.
LEVELS_PER_CHECK = 4
# Trees grown at once off the CPU; not measured here (no accelerator was lent).
ACCELERATOR_TREES_PER_BATCH = 64


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
    trees_per_batch: trees grown side by side as one flat problem (counted over
        all datasets of a vmapped fit); chunks run one after another. Memory is
        O(trees_per_batch * n * (d + K)). None = 1 on a CPU (fastest there: a
        tree's tables stay in cache), else `ACCELERATOR_TREES_PER_BATCH`.
    """

    num_trees: int = 50
    max_features: int | None = None
    min_samples_split: int | float = 2
    max_depth: int = 32
    trees_per_batch: int | None = None

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
        if self.trees_per_batch is not None:
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
        leaves = _leaves(params, x, self.max_depth)  # [num_trees, m]
        return jnp.mean(jnp.take_along_axis(params.value, leaves, 1), axis=0)


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
    y, weights: [B, n] -> ForestParams of [B, M, max_nodes].

    The B * M trees form one list, grown `trees_per_batch` at a time."""
    num_datasets, n, _ = x.shape
    split = config.min_samples_split
    if isinstance(split, float):
        num_valid = jnp.sum(weights > 0, axis=1)
        min_split = jnp.maximum(2.0, jnp.ceil(split * num_valid - 1e-6))
        # Nodes that may split hold >= n_min >= psi * v of the v valid
        # samples each, so a level has at most 1 / psi of them (and n / 2):
        # FQI's psi of 1e-3 to 1e-2 keeps every level's tables small.
        slots_per_tree = max(min(n // 2, int(1.0 / split) + 1), 1)
        min_rows = max(2, math.ceil(split * n - 1e-6))  # without padding
    else:
        min_split = jnp.full(num_datasets, split, jnp.float32)
        slots_per_tree = max(n // split, 1)
        min_rows = split
    signed, targets = signed_table(x, y, weights), jnp.stack([y, weights], -1)
    num_trees = num_datasets * config.num_trees
    per_chunk = config.trees_per_batch
    if per_chunk is None:
        cpu = jax.default_backend() == "cpu"
        per_chunk = 1 if cpu else ACCELERATOR_TREES_PER_BATCH
    per_chunk = min(per_chunk, num_trees)
    num_chunks = -(-num_trees // per_chunk)
    padding = num_chunks * per_chunk - num_trees
    tree_dataset = jnp.repeat(jnp.arange(num_datasets), config.num_trees)

    def chunked(values):  # [B * M] -> [chunks, per_chunk]
        return jnp.pad(values, (0, padding)).reshape(num_chunks, per_chunk)

    def grow_chunk(chunk):  # -> 4 x [per_chunk, max_nodes]
        chunk_seeds, chunk_dataset = chunk
        tables, tree_dataset = (signed, targets), chunk_dataset
        if per_chunk == 1:  # the loop then gathers from one dataset's rows only
            tables = (signed[chunk_dataset], targets[chunk_dataset])
            tree_dataset = jnp.zeros(1, jnp.int32)
        return grow_trees(
            chunk_seeds, tree_dataset, *tables, min_split[chunk_dataset],
            num_features, config.max_depth, max_nodes, slots_per_tree, min_rows,
            x.shape[-1],
        )  # fmt: skip

    chunks = (chunked(seeds.reshape(-1)), chunked(tree_dataset))
    if num_chunks == 1:
        trees = grow_chunk(jax.tree.map(lambda leaf: leaf[0], chunks))
    else:
        trees = jax.lax.map(grow_chunk, chunks)

    def by_dataset(leaf):  # [chunks, per_chunk, N] -> [B, M, N]
        leaf = leaf.reshape(num_chunks * per_chunk, max_nodes)[:num_trees]
        return leaf.reshape(num_datasets, config.num_trees, max_nodes)

    return ForestParams(*(by_dataset(leaf) for leaf in trees))


def _leaves(forest: ForestParams, x: Array, max_depth: int) -> Array:
    """The leaf of every point in every tree. x: [m, d] -> [num_trees, m]."""

    def descend(tree, node):  # one level down in one tree; leaves stay
        feature = tree.feature[node]
        x_at = jnp.take_along_axis(x, jnp.maximum(feature, 0)[:, None], 1)[:, 0]
        child = tree.left_child[node] + (x_at > tree.threshold[node])
        return jnp.where(feature < 0, node, child)

    def step(carry):  # LEVELS_PER_CHECK levels, then one leaf check
        depth, node, _ = carry
        for _ in range(LEVELS_PER_CHECK):
            node = jax.vmap(descend)(forest, node)
        inner = jnp.take_along_axis(forest.feature, node, 1) >= 0
        return depth + LEVELS_PER_CHECK, node, jnp.any(inner)

    # One loop for the whole forest, stopping once every point is in a leaf, so
    # shallow trees (a fraction n_min, as in FQI) skip most of max_depth; the
    # check runs every few levels because a batched (vmapped) while loop pays
    # for each iteration. Extra levels are harmless: leaves point to themselves.
    num_trees = forest.feature.shape[0]
    node = jnp.zeros((num_trees, x.shape[0]), jnp.int32)
    start = (0, node, jnp.any(forest.feature[:, 0] >= 0))
    _, node, _ = jax.lax.while_loop(
        lambda carry: (carry[0] < max_depth) & carry[2], step, start
    )
    return node
