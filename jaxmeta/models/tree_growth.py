"""Level-wise growth of many extra-trees regression trees as one flat problem.

Every tree owns a block of n positions. A position holds one sample (a row of the
shared data table) and the id of the sample's node; the samples of a node always
sit contiguously, because a split stably partitions its node's range into the
left child's samples then the right child's, as scikit-learn's splitter does.
Segment reductions then write to nearby rows, which is what makes them cheap on
CPU, where scattering into large tables is bound by memory traffic.

A level handles the frontier (the nodes made by the previous level). Frontier
nodes that may split (at least n_min valid samples) get compact slots, at most
n // max(2, n_min) a tree, so no per-level table spans the 2n - 1 nodes of a
tree. `tree_split.best_splits` draws and scores each slot's K random cuts.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxmeta.models.tree_split import best_splits
from jaxmeta.types import Array

# Columns of the int32 frontier table: the node's first position in its tree's
# block, its number of positions, of valid samples, and its mean (float bits).
START, SIZE, COUNT, MEAN = range(4)


class Level(NamedTuple):
    """The loop state between levels (P trees, rows = P * n positions)."""

    depth: Array  # [] int32, levels grown
    order: Array  # [rows] the table row of each position's sample
    node: Array  # [rows] local node id of each position's sample
    nodes: Array  # [P * max_nodes, 3] int32: feature, left child, threshold bits
    frontier: Array  # [rows, 4] nodes made by the last level (START .. MEAN)
    start: Array  # [P] local id of each tree's first frontier node
    end: Array  # [P] one past its last node


class Layout(NamedTuple):
    """Static shapes and per-position constants of one growth problem."""

    num_trees: int
    n: int  # positions per tree
    max_nodes: int
    input_dim: int
    table: Array  # [B * n, width]
    tree_of_position: Array  # [rows]
    block_start: Array  # [rows] first position of the position's tree
    local_position: Array  # [rows] position within its tree's block
    node_offset: Array  # [P] first row of each tree in `nodes`
    row_min_split: Array  # [rows] n_min of the position's tree

    @property
    def rows(self) -> int:
        return self.num_trees * self.n

    @property
    def weight_column(self) -> int:
        return self.input_dim + 1


class Slots(NamedTuple):
    """The compact table of a level's splittable nodes (S = P * bound)."""

    compact: Array  # [rows] slot of each frontier entry (S = cannot split)
    source: Array  # [S] flat frontier index of each slot
    live: Array  # [S] bool: the slot holds a node
    frontier: Array  # [S, 4] the slot's frontier row
    mean: Array  # [S] float32 node mean
    tree: Array  # [S] tree of each slot
    size: int  # S


def _slots(layout: Layout, frontier, per_tree: int) -> Slots:
    """Compact slots for the frontier nodes with at least n_min samples."""
    num_trees, n = layout.num_trees, layout.n
    size = num_trees * per_tree
    tree = jnp.repeat(jnp.arange(num_trees), per_tree)
    slot_in_tree = jnp.tile(jnp.arange(per_tree), num_trees)
    may_split = (frontier[:, COUNT] >= layout.row_min_split).reshape(num_trees, n)
    may_split_int = may_split.astype(jnp.int32)
    compact = jnp.cumsum(may_split_int, axis=1) - may_split_int
    compact = jnp.where(
        may_split, compact + per_tree * jnp.arange(num_trees)[:, None], size
    ).reshape(-1)
    source = (
        jnp.zeros(size, jnp.int32).at[compact].set(jnp.arange(layout.rows), mode="drop")
    )
    live = slot_in_tree < jnp.sum(may_split_int, axis=1)[tree]
    slot_frontier = frontier[source]
    mean = jax.lax.bitcast_convert_type(slot_frontier[:, MEAN], jnp.float32)
    return Slots(compact, source, live, slot_frontier, mean, tree, size)


def _slot_of_positions(layout: Layout, state: Level, slots: Slots):
    """[rows] slot of each position's node (slots.size if it cannot split),
    and the same clipped to a valid index."""
    relative = state.node - state.start[layout.tree_of_position]
    in_frontier = relative >= 0
    index = jnp.where(in_frontier, layout.block_start + relative, 0)
    slot = jnp.where(in_frontier, slots.compact[index], slots.size)
    return slot, jnp.minimum(slot, slots.size - 1)


def _record_splits(layout, state, slots, split, feature, threshold, new_left):
    """Write (feature, left child, threshold) of every split node."""
    node_id = state.start[slots.tree] + slots.source - slots.tree * layout.n
    target = jnp.where(
        split,
        layout.node_offset[slots.tree] + node_id,
        layout.num_trees * layout.max_nodes,
    )
    threshold_bits = jax.lax.bitcast_convert_type(threshold, jnp.int32)
    values = jnp.stack([feature, new_left, threshold_bits], 1)
    return state.nodes.at[target].set(values, mode="drop")


def _partition(layout, state, data, slots, slot, safe_slot, split, feature,
               threshold, new_left):  # fmt: skip
    """Stable partition of every split node's positions: left samples first.
    Returns (order, node) of the next level and in_left [S, 2], the left
    child's positions and valid samples per slot."""
    splitting = (slot < slots.size) & split[safe_slot]
    chosen = jnp.take_along_axis(data, feature[safe_slot][:, None], 1)[:, 0]
    goes_right = chosen > threshold[safe_slot]
    left = splitting & ~goes_right
    left_valid = left & (data[:, layout.weight_column] > 0)
    before = jnp.cumsum(jnp.stack([left, left_valid], 1).astype(jnp.int32), 0)
    before = jnp.concatenate([jnp.zeros((1, 2), jnp.int32), before])
    first = slots.tree * layout.n + slots.frontier[:, START]  # global position
    in_left = before[first + slots.frontier[:, SIZE]] - before[first]
    left_rank = before[:-1, 0] - before[first[safe_slot], 0]
    node_start = slots.frontier[safe_slot, START]
    new_position = jnp.where(
        goes_right,
        layout.local_position + in_left[safe_slot, 0] - left_rank,
        node_start + left_rank,
    )
    new_position = jnp.where(splitting, new_position, layout.local_position)
    new_node = jnp.where(
        splitting, new_left[safe_slot] + goes_right.astype(jnp.int32), state.node
    )
    moved = (
        jnp.zeros((layout.rows, 2), jnp.int32)
        .at[layout.block_start + new_position]
        .set(jnp.stack([state.order, new_node], 1), unique_indices=True)
    )
    return moved[:, 0], moved[:, 1], in_left


def _children(layout, slots, split, rank, in_left, sums):
    """The next frontier: each split node's two children, in creation order."""
    weight_left, residual_left, weight, residual = sums
    mean_left = slots.mean + residual_left / jnp.maximum(weight_left, 1e-30)
    mean_right = slots.mean + (residual - residual_left) / jnp.maximum(
        weight - weight_left, 1e-30
    )
    start, size, count = (slots.frontier[:, c] for c in (START, SIZE, COUNT))
    left_child = jnp.stack(
        [start, in_left[:, 0], in_left[:, 1],
         jax.lax.bitcast_convert_type(mean_left, jnp.int32)], 1,
    )  # fmt: skip
    right_child = jnp.stack(
        [start + in_left[:, 0], size - in_left[:, 0], count - in_left[:, 1],
         jax.lax.bitcast_convert_type(mean_right, jnp.int32)], 1,
    )  # fmt: skip
    child = jnp.where(split, slots.tree * layout.n + 2 * rank, layout.rows)
    return (
        jnp.zeros((layout.rows, 4), jnp.int32)
        .at[jnp.concatenate([child, child + 1])]
        .set(jnp.concatenate([left_child, right_child]), mode="drop")
    )


def _scored_splits(layout, data, slot, slots, seeds, depth, num_features, per_tree):
    """`best_splits` on the rows of splittable nodes only: they are gathered
    into the smallest of a few static table sizes that holds them, so deep
    levels, where most rows already sit in leaves, cost what their live rows
    cost. Per-slot results do not depend on the rows' order (reductions by
    slot; random numbers keyed by slot and depth)."""
    rows = layout.rows
    live_row = slot < slots.size
    count = jnp.sum(live_row)
    bounds = sorted({max(rows // 16, 1), max(rows // 4, 1), rows})

    def score(bound):
        def run(_):
            if bound == rows:
                rows_data, rows_slot = data, slot
            else:
                rank = jnp.cumsum(live_row) - 1
                target = jnp.where(live_row, rank, bound)
                index = (
                    jnp.zeros(bound, jnp.int32)
                    .at[target]
                    .set(jnp.arange(rows), mode="drop")
                )
                filled = jnp.arange(bound) < count
                rows_data = data[index]
                rows_slot = jnp.where(filled, slot[index], slots.size)
            return best_splits(
                rows_data, rows_slot, jnp.minimum(rows_slot, slots.size - 1),
                slots.mean, slots.live, seeds[:, None, None], depth, num_features,
                per_tree, layout.input_dim,
            )  # fmt: skip

        return run

    tier = jnp.sum(count > jnp.array(bounds[:-1]))
    return jax.lax.switch(tier, [score(b) for b in bounds], None)


def _grow_level(layout, seeds, num_features, per_tree, state: Level) -> Level:
    """One level: score each splittable node's K cuts, record the splits,
    partition their samples and make the next frontier."""
    data = layout.table[state.order]  # [rows, width], in position order
    slots = _slots(layout, state.frontier, per_tree)
    slot, safe_slot = _slot_of_positions(layout, state, slots)
    split, feature, threshold, sums = _scored_splits(
        layout, data, slot, slots, seeds, state.depth, num_features, per_tree
    )
    split_int = split.astype(jnp.int32).reshape(layout.num_trees, per_tree)
    rank = (jnp.cumsum(split_int, axis=1) - split_int).reshape(-1)
    new_left = state.end[slots.tree] + 2 * rank  # local id of the left child
    nodes = _record_splits(layout, state, slots, split, feature, threshold, new_left)
    order, node, in_left = _partition(
        layout, state, data, slots, slot, safe_slot, split, feature, threshold,
        new_left,
    )  # fmt: skip
    frontier = _children(layout, slots, split, rank, in_left, sums)
    new_end = state.end + 2 * jnp.sum(split_int, axis=1)
    return Level(state.depth + 1, order, node, nodes, frontier, state.end, new_end)


def _initial_level(layout: Layout, tree_dataset) -> Level:
    """Every tree's root (all n positions) as the first frontier."""
    num_trees, n = layout.num_trees, layout.n
    order = (tree_dataset[:, None] * n + jnp.arange(n)).reshape(-1)
    data = layout.table[order].reshape(num_trees, n, -1)
    weights = data[..., layout.weight_column]
    weighted_y = weights * data[..., layout.input_dim]
    root_mean = jnp.sum(weighted_y, 1) / jnp.maximum(jnp.sum(weights, 1), 1e-30)
    root = jnp.stack(
        [jnp.zeros(num_trees, jnp.int32), jnp.full(num_trees, n, jnp.int32),
         jnp.sum(weights > 0, 1).astype(jnp.int32),
         jax.lax.bitcast_convert_type(root_mean, jnp.int32)], 1,
    )  # fmt: skip
    frontier = jnp.zeros((num_trees, n, 4), jnp.int32).at[:, 0].set(root)
    unsplit = jnp.array([-1, 0, 0], jnp.int32)
    return Level(
        depth=jnp.int32(0),
        order=order,
        node=jnp.zeros(layout.rows, jnp.int32),
        nodes=jnp.tile(unsplit, (num_trees * layout.max_nodes, 1)),
        frontier=frontier.reshape(layout.rows, 4),
        start=jnp.zeros(num_trees, jnp.int32),
        end=jnp.ones(num_trees, jnp.int32),
    )


def _leaf_values(layout: Layout, state: Level):
    """[P * max_nodes] weighted mean of each leaf's samples (0 elsewhere)."""
    data = layout.table[state.order]
    weight = data[:, layout.weight_column]
    leaf_weight, leaf_weighted_y = jax.ops.segment_sum(
        jnp.stack([weight, weight * data[:, layout.input_dim]], 1),
        layout.node_offset[layout.tree_of_position] + state.node,
        num_segments=layout.num_trees * layout.max_nodes,
    ).T
    return jnp.where(
        leaf_weight > 0, leaf_weighted_y / jnp.maximum(leaf_weight, 1e-30), 0.0
    )


def grow_trees(
    seeds, tree_dataset, table, min_split, num_features, max_depth, max_nodes,
    slots_per_tree, input_dim,
):  # fmt: skip
    """Grow P trees side by side, each on one dataset of a shared table.

    seeds: [P] uint32; tree_dataset: [P] int32, the dataset of each tree;
    table: [B, n, width] rows (x [d], y, weight, then zeros up to width: rows of
    a multiple of 8 floats gather faster), weight 0 = padding; min_split: [P]
    float, n_min of each tree; slots_per_tree: a static bound on the nodes of a
    level that may split (n // 2 always holds); input_dim: d.

    Returns (feature, threshold, left_child, value), each [P, max_nodes]:
    feature -1 marks a leaf, a sample goes right when x[feature] > threshold,
    the right child is left_child + 1, and value is the weighted mean of a
    leaf's samples.
    """
    num_trees = seeds.shape[0]
    _, n, width = table.shape
    layout = Layout(
        num_trees=num_trees,
        n=n,
        max_nodes=max_nodes,
        input_dim=input_dim,
        table=table.reshape(-1, width),
        tree_of_position=jnp.repeat(jnp.arange(num_trees), n),
        block_start=jnp.repeat(jnp.arange(num_trees), n) * n,
        local_position=jnp.tile(jnp.arange(n), num_trees),
        node_offset=jnp.arange(num_trees) * max_nodes,
        row_min_split=jnp.repeat(min_split, n),
    )
    # Most levels have far fewer splittable nodes than the bound; a smaller
    # table makes them cheaper, and the bound holds for the others.
    bounds = sorted({max(n // 8, 1), slots_per_tree})
    bounds = [bound for bound in bounds if bound <= slots_per_tree]

    def level(state: Level) -> Level:
        def grow(bound):
            return lambda s: _grow_level(layout, seeds, num_features, bound, s)

        if len(bounds) == 1:
            return grow(bounds[0])(state)
        may_split = state.frontier[:, COUNT] >= layout.row_min_split
        most = jnp.max(jnp.sum(may_split.reshape(num_trees, n), axis=1))
        tier = jnp.sum(most > jnp.array(bounds[:-1]))
        return jax.lax.switch(tier, [grow(b) for b in bounds], state)

    def growing(state: Level):
        return (state.depth < max_depth) & jnp.any(state.end > state.start)

    # A while loop stops at the deepest leaf; fitting is never differentiated.
    state = jax.lax.while_loop(growing, level, _initial_level(layout, tree_dataset))
    value = _leaf_values(layout, state)
    nodes = state.nodes.reshape(num_trees, max_nodes, 3)
    threshold = jax.lax.bitcast_convert_type(nodes[..., 2], jnp.float32)
    return nodes[..., 0], threshold, nodes[..., 1], value.reshape(num_trees, -1)
