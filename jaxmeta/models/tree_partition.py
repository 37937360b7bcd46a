"""From one level's chosen splits to the next level's state (`tree_growth.py`).

The live rows of a level are the samples of its splittable nodes in position
order, so a node's rows are contiguous and prefix sums over the live rows give
every sample's rank among its node's left-going samples. A split node's range
becomes its left child's samples then its right child's (a stable partition,
as scikit-learn's splitter does); only children that may split again (at least
n_min valid samples) enter the next frontier and live list.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxmeta.types import Array

# Columns of the int32 frontier table: the node's local id, its first position
# in its tree's block, its number of positions, of valid samples, and its mean
# (float bits). A slot of size 0 holds no node.
ID, START, SIZE, COUNT, MEAN = range(5)
NODE_FIELDS = 5


class Level(NamedTuple):
    """The loop state between levels (P trees, rows = P * n positions)."""

    depth: Array  # [] int32, levels grown
    order: Array  # [rows] the table row of each position's sample
    node: Array  # [rows] local node id of each position's sample
    nodes: Array  # [P * max_nodes, 3] int32: feature, left child, threshold bits
    live: Array  # [rows, 2] position and slot in its tree of each live sample
    num_live: Array  # [] int32, live samples (the first entries of `live`)
    num_slots: Array  # [] int32, the most splittable nodes of a tree
    frontier: Array  # [P, max_slots, NODE_FIELDS] the nodes that may split
    end: Array  # [P] one past each tree's last node id


def next_level(layout, state, x, weight, order, filled, safe_slot, frontier,
               mean, split, feature, threshold, sums, per_tree) -> Level:  # fmt: skip
    """Record the splits, partition the split nodes' samples and keep the
    children that may split.

    x: [bound, width] the live rows' inputs (-inf for padding, which thus goes
    left); weight: [bound]; order: [bound] their table rows;
    filled: [bound] bool, the row is live; safe_slot: [bound] its slot;
    frontier: [S, NODE_FIELDS], S = P * per_tree; mean: [S] float32 node means;
    split, feature, threshold: [S] and sums the 4 x [S] cut sums of
    `best_splits`.
    """
    num_trees, n = layout.num_trees, layout.n
    bound = x.shape[0]
    tree = jnp.repeat(jnp.arange(num_trees), per_tree)  # [S]
    split_int = split.astype(jnp.int32).reshape(num_trees, per_tree)
    rank = (jnp.cumsum(split_int, axis=-1) - split_int).reshape(-1)
    new_left = state.end[tree] + 2 * rank  # local id of the left child
    target = jnp.where(
        split,
        tree * layout.max_nodes + frontier[:, ID],
        num_trees * layout.max_nodes,
    )
    threshold_bits = jax.lax.bitcast_convert_type(threshold, jnp.int32)
    nodes = state.nodes.at[target].set(
        jnp.stack([feature, new_left, threshold_bits], 1), mode="drop"
    )

    # Stable partition: left-going rows first. One gather brings each row its
    # node's cut (feature -1: the node does not split).
    cut = _rows(
        jnp.stack([jnp.where(split, feature, -1), threshold_bits], 1), safe_slot
    )
    splitting = filled & (cut[:, 0] >= 0)
    chosen = jnp.take_along_axis(x, jnp.maximum(cut[:, :1], 0), 1)[:, 0]
    goes_right = chosen > jax.lax.bitcast_convert_type(cut[:, 1], jnp.float32)
    left = splitting & ~goes_right
    left_valid = left & (weight > 0)
    left_int = jnp.stack([left, left_valid]).astype(jnp.int32)
    through = jnp.cumsum(left_int, axis=-1)  # [2, bound] left rows up to each row
    before = through - left_int  # and before it
    size = frontier[:, SIZE]
    first = jnp.cumsum(size, axis=-1) - size  # [S] each node's first live row
    # Slots of size 0 hold no node: their (clipped) counts are never used.
    first_before = before.at[:, first].get(mode="clip")
    in_left = through[:, jnp.maximum(first + size - 1, 0)] - first_before  # [2, S]

    children = _children(layout, frontier, mean, split, new_left, in_left, sums)
    keep = split[:, None] & (children[..., COUNT] >= layout.min_split[tree, None])
    keep_int = keep.astype(jnp.int32).reshape(num_trees, 2 * per_tree)
    slot_next = (jnp.cumsum(keep_int, axis=-1) - keep_int).reshape(-1, 2)
    kept_size = jnp.where(keep, children[..., SIZE], 0).reshape(-1)
    offset = (jnp.cumsum(kept_size, axis=-1) - kept_size).reshape(-1, 2)
    next_frontier = (
        jnp.zeros_like(state.frontier)
        .at[jnp.where(keep, tree[:, None], num_trees), slot_next]
        .set(children, mode="drop")
    )

    # A row's rank: the left rows before it (left child) or the other rows
    # before it (right child); per child, rank + shift is the row's position
    # and its index in the next live list (>= rows: not kept). One gather
    # brings each row its child's shifts, node id and next slot.
    rank_at_first = jnp.stack([first_before[0], first - first_before[0]], 1)
    child_position = tree[:, None] * n + children[..., START]
    by_child = jnp.stack(
        [child_position - rank_at_first,
         jnp.where(keep, offset - rank_at_first, layout.rows),
         children[..., ID], slot_next], -1,
    ).reshape(-1, 4)  # fmt: skip
    by_child = _rows(by_child, 2 * safe_slot + goes_right)
    rank = jnp.where(goes_right, jnp.arange(bound) - before[0], before[0])
    position = by_child[:, 0] + rank
    moved = jnp.where(splitting, position, layout.rows)
    new_order = state.order.at[moved].set(order, mode="drop", unique_indices=True)
    new_node = state.node.at[moved].set(
        by_child[:, 2], mode="drop", unique_indices=True
    )
    # The next live list: the rows of kept children, in position order.
    index = jnp.where(splitting, by_child[:, 1] + rank, layout.rows)
    live = state.live.at[index].set(
        jnp.stack([position, by_child[:, 3]], 1), mode="drop", unique_indices=True
    )
    return Level(
        depth=state.depth + 1,
        order=new_order,
        node=new_node,
        nodes=nodes,
        live=live,
        num_live=jnp.sum(kept_size),
        num_slots=jnp.max(jnp.sum(keep_int, axis=1)),
        frontier=next_frontier,
        end=state.end + 2 * jnp.sum(split_int, axis=1),
    )


def _children(layout, frontier, mean, split, new_left, in_left, sums):
    """[S, 2, NODE_FIELDS] each slot's left and right child (if it splits)."""
    weight_left, residual_left, weight, residual = sums
    mean_left = mean + residual_left / jnp.maximum(weight_left, 1e-30)
    mean_right = mean + (residual - residual_left) / jnp.maximum(
        weight - weight_left, 1e-30
    )
    start, size, count = (frontier[:, c] for c in (START, SIZE, COUNT))
    left_child = jnp.stack(
        [new_left, start, in_left[0], in_left[1],
         jax.lax.bitcast_convert_type(mean_left, jnp.int32)], 1,
    )  # fmt: skip
    right_child = jnp.stack(
        [new_left + 1, start + in_left[0], size - in_left[0], count - in_left[1],
         jax.lax.bitcast_convert_type(mean_right, jnp.int32)], 1,
    )  # fmt: skip
    return jnp.stack([left_child, right_child], 1)


def _rows(table, index):
    """table[index], the table materialised first by a scatter (which XLA does
    not fuse into its consumers): XLA would otherwise fuse the table's
    computation into the gather and redo it for every gathered number, which
    cost 8x here."""
    table = (
        jnp.zeros_like(table)
        .at[jnp.arange(table.shape[0])]
        .set(table, indices_are_sorted=True, unique_indices=True)
    )
    return table[index]
