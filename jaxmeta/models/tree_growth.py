"""Level-wise growth of many extra-trees regression trees as one flat problem.

Every tree owns a block of n positions. A position holds one sample (a row of the
shared data table) and the id of the sample's node; the samples of a node always
sit contiguously, because a split stably partitions its node's range into the
left child's samples then the right child's, as scikit-learn's splitter does.

A level touches only the samples of nodes that may still split (at least n_min
valid samples): the live list holds their positions in position order, so each
such node's samples are contiguous in it too. A level gathers the live rows
into the smallest of a few static table sizes that holds them, draws and
scores each node's K random cuts (`tree_split.best_splits`), partitions the
split nodes' samples (`tree_partition.py`), and keeps in the next live list
only the children that may split. Leaves' samples are never touched again, so
deep levels, where most samples already sit in leaves, cost what their live
samples cost. The splittable nodes of a tree get compact slots, at most
`slots_per_tree`, so no per-level table spans the 2n - 1 nodes of a tree.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxmeta.models.tree_partition import (
    MEAN,
    NODE_FIELDS,
    SIZE,
    Level,
    next_level,
)
from jaxmeta.models.tree_split import best_splits
from jaxmeta.types import Array


class Layout(NamedTuple):
    """Static shapes and per-tree constants of one growth problem."""

    num_trees: int
    n: int  # positions per tree
    max_nodes: int
    input_dim: int
    signed: Array  # [B * n, 2, width], `tree_split.signed_table`
    targets: Array  # [B * n, 2] y and weight
    min_split: Array  # [P] n_min of each tree

    @property
    def rows(self) -> int:
        return self.num_trees * self.n


def _grow_level(layout, seeds, num_features, bound, per_tree, state: Level):
    """One level on the first `bound` entries of the live list (it holds at
    most that many) with `per_tree` slots a tree: score each splittable node's
    K cuts, record the splits and make the next level."""
    live = state.live[:bound]
    filled = jnp.arange(bound) < state.num_live
    tree = live[:, 0] // layout.n if layout.num_trees > 1 else 0
    num_slots = layout.num_trees * per_tree
    slot = jnp.where(filled, tree * per_tree + live[:, 1], num_slots)
    safe_slot = jnp.minimum(slot, num_slots - 1)
    order = state.order[live[:, 0]]
    signed, targets = layout.signed[order], layout.targets[order]
    frontier = state.frontier[:, :per_tree].reshape(num_slots, NODE_FIELDS)
    mean = jax.lax.bitcast_convert_type(frontier[:, MEAN], jnp.float32)
    split, feature, threshold, sums = best_splits(
        signed, targets, slot, safe_slot, mean, frontier[:, SIZE] > 0,
        seeds[:, None, None], state.depth, num_features, per_tree,
        layout.input_dim,
    )  # fmt: skip
    return next_level(
        layout, state, signed[:, 1], targets[:, 1], order, filled, safe_slot,
        frontier, mean, split, feature, threshold, sums, per_tree,
    )  # fmt: skip


def _initial_level(layout: Layout, tree_dataset, max_slots: int) -> Level:
    """Every tree's root (all n positions) as the first frontier."""
    num_trees, n = layout.num_trees, layout.n
    order = (tree_dataset[:, None] * n + jnp.arange(n)).reshape(-1)
    y, weights = layout.targets[order].reshape(num_trees, n, 2).transpose(2, 0, 1)
    weighted_y = weights * y
    root_mean = jnp.sum(weighted_y, 1) / jnp.maximum(jnp.sum(weights, 1), 1e-30)
    count = jnp.sum(weights > 0, 1).astype(jnp.int32)
    may_split = count >= layout.min_split
    root = jnp.stack(
        [jnp.zeros(num_trees, jnp.int32), jnp.zeros(num_trees, jnp.int32),
         jnp.full(num_trees, n, jnp.int32), count,
         jax.lax.bitcast_convert_type(root_mean, jnp.int32)], 1,
    )  # fmt: skip
    root = jnp.where(may_split[:, None], root, 0)
    frontier = jnp.zeros((num_trees, max_slots, NODE_FIELDS), jnp.int32)
    # The live list: every position of the trees whose root may split.
    offset = jnp.cumsum(may_split * n) - may_split * n
    position = jnp.arange(layout.rows)
    target = offset[position // n] + position % n
    target = jnp.where(may_split[position // n], target, layout.rows)
    live = jnp.zeros((layout.rows, 2), jnp.int32).at[target, 0].set(position)
    unsplit = jnp.array([-1, 0, 0], jnp.int32)
    return Level(
        depth=jnp.int32(0),
        order=order,
        node=jnp.zeros(layout.rows, jnp.int32),
        nodes=jnp.tile(unsplit, (num_trees * layout.max_nodes, 1)),
        live=live,
        num_live=jnp.sum(may_split * n),
        num_slots=jnp.any(may_split).astype(jnp.int32),
        frontier=frontier.at[:, 0].set(root),
        end=jnp.ones(num_trees, jnp.int32),
    )


def _tiers(rows: int, n: int, slots_per_tree: int, min_rows: int):
    """Static (live rows, slots a tree) sizes a level may run at, cheapest
    first; a level runs at the first that holds its live rows and its trees'
    splittable nodes, and the last holds any level. A tree's live rows fill at
    most min(n, live rows) // n_min slots (min_rows stands for n_min: where
    padding lowers n_min, a level may need a larger size); early levels have
    few nodes."""
    most = max(min(slots_per_tree, n // 2), 1)
    tiers = []
    for bound in (rows // 16, rows // 4, rows // 2):
        per_tree = min(most, min(n, bound) // max(min_rows, 2))
        if bound >= 1 and per_tree >= 1:
            tiers.append((bound, per_tree))
    tiers += [(rows, max(most // 8, 1)), (rows, most)]
    return sorted(set(tiers))


def _leaf_values(layout: Layout, state: Level):
    """[P * max_nodes] weighted mean of each leaf's samples (0 elsewhere)."""
    y, weight = layout.targets[state.order].T
    tree = jnp.arange(layout.rows) // layout.n
    leaf_weight, leaf_weighted_y = jax.ops.segment_sum(
        jnp.stack([weight, weight * y], 1),
        tree * layout.max_nodes + state.node,
        num_segments=layout.num_trees * layout.max_nodes,
    ).T
    return jnp.where(
        leaf_weight > 0, leaf_weighted_y / jnp.maximum(leaf_weight, 1e-30), 0.0
    )


def grow_trees(
    seeds, tree_dataset, signed, targets, min_split, num_features, max_depth, max_nodes,
    slots_per_tree, min_rows, input_dim,
):  # fmt: skip
    """Grow P trees side by side, each on one dataset of a shared table.

    seeds: [P] uint32; tree_dataset: [P] int32, the dataset of each tree;
    signed: [B, n, 2, width] the datasets' rows (`tree_split.signed_table`);
    targets: [B, n, 2] their y and weight, weight 0 = padding; min_split: [P]
    float, n_min of each tree; slots_per_tree: a static bound on the nodes of a
    level that may split (n // 2 always holds); min_rows: the n_min expected
    (a level that has more nodes than this implies just runs slower); input_dim:
    d.

    Returns (feature, threshold, left_child, value), each [P, max_nodes]:
    feature -1 marks a leaf, a sample goes right when x[feature] > threshold,
    the right child is left_child + 1, and value is the weighted mean of a
    leaf's samples.
    """
    num_trees = seeds.shape[0]
    n = targets.shape[1]
    layout = Layout(
        num_trees=num_trees,
        n=n,
        max_nodes=max_nodes,
        input_dim=input_dim,
        signed=signed.reshape(-1, 2, signed.shape[-1]),
        targets=targets.reshape(-1, 2),
        min_split=min_split,
    )
    tiers = _tiers(layout.rows, n, slots_per_tree, min_rows)
    max_live, max_slots = (jnp.array(bound) for bound in zip(*tiers, strict=True))

    def level(state: Level) -> Level:
        def grow(bound, per_tree):
            return lambda s: _grow_level(
                layout, seeds, num_features, bound, per_tree, s
            )

        fits = (state.num_live <= max_live) & (state.num_slots <= max_slots)
        branches = [grow(bound, per_tree) for bound, per_tree in tiers]
        return jax.lax.switch(jnp.argmax(fits), branches, state)

    def growing(state: Level):
        return (state.depth < max_depth) & (state.num_live > 0)

    # A while loop stops at the deepest leaf; fitting is never differentiated.
    start = _initial_level(layout, tree_dataset, tiers[-1][1])
    state = jax.lax.while_loop(growing, level, start)
    value = _leaf_values(layout, state)
    nodes = state.nodes.reshape(num_trees, max_nodes, 3)
    threshold = jax.lax.bitcast_convert_type(nodes[..., 2], jnp.float32)
    return nodes[..., 0], threshold, nodes[..., 1], value.reshape(num_trees, -1)
