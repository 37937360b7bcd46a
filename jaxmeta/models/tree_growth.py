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

import jax
import jax.numpy as jnp

from jaxmeta.models.tree_split import best_splits

# Columns of the int32 frontier table: the node's first position in its tree's
# block, its number of positions, of valid samples, and its mean (float bits).
START, SIZE, COUNT, MEAN = range(4)


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
    weight_column = input_dim + 1
    rows = num_trees * n
    table = table.reshape(-1, width)
    tree_of_position = jnp.repeat(jnp.arange(num_trees), n)
    block_start = tree_of_position * n
    local_position = jnp.tile(jnp.arange(n), num_trees)
    node_offset = jnp.arange(num_trees) * max_nodes
    row_min_split = jnp.repeat(min_split, n)

    def level_with(slots_per_tree):
        """The level body for a static bound on the splittable nodes a tree."""
        slots = num_trees * slots_per_tree
        tree_of_slot = jnp.repeat(jnp.arange(num_trees), slots_per_tree)
        slot_in_tree = jnp.tile(jnp.arange(slots_per_tree), num_trees)

        def level(state):
            depth, order, node, nodes, frontier, start, end = state
            data = table[order]  # [rows, width], in position order
            # Compact slots for the frontier nodes that may split.
            may_split = (frontier[:, COUNT] >= row_min_split).reshape(num_trees, n)
            may_split_int = may_split.astype(jnp.int32)
            compact = jnp.cumsum(may_split_int, axis=1) - may_split_int
            compact = jnp.where(
                may_split,
                compact + slots_per_tree * jnp.arange(num_trees)[:, None],
                slots,
            ).reshape(-1)
            source = (
                jnp.zeros(slots, jnp.int32)
                .at[compact]
                .set(jnp.arange(rows), mode="drop")
            )  # frontier index (flat) of each slot
            live = slot_in_tree < jnp.sum(may_split_int, axis=1)[tree_of_slot]
            slot_frontier = frontier[source]  # [slots, 4]
            slot_mean = jax.lax.bitcast_convert_type(
                slot_frontier[:, MEAN], jnp.float32
            )

            relative = node - start[tree_of_position]
            in_frontier = relative >= 0
            slot = jnp.where(
                in_frontier,
                compact[jnp.where(in_frontier, block_start + relative, 0)],
                slots,
            )
            safe_slot = jnp.minimum(slot, slots - 1)
            split, feature, threshold, sums = best_splits(
                data, slot, safe_slot, slot_mean, live, seeds[:, None, None], depth,
                num_features, slots_per_tree, input_dim,
            )  # fmt: skip

            split_int = split.astype(jnp.int32).reshape(num_trees, slots_per_tree)
            rank = (jnp.cumsum(split_int, axis=1) - split_int).reshape(-1)
            new_left = end[tree_of_slot] + 2 * rank  # local id of the left child
            node_id = start[tree_of_slot] + source - tree_of_slot * n
            nodes = nodes.at[
                jnp.where(
                    split, node_offset[tree_of_slot] + node_id, num_trees * max_nodes
                )
            ].set(
                jnp.stack(
                    [
                        feature,
                        new_left,
                        jax.lax.bitcast_convert_type(threshold, jnp.int32),
                    ],
                    1,
                ),
                mode="drop",
            )

            # Stable partition of every split node's range of positions.
            splitting = (slot < slots) & split[safe_slot]
            chosen = jnp.take_along_axis(data, feature[safe_slot][:, None], 1)[:, 0]
            goes_right = chosen > threshold[safe_slot]
            left = splitting & ~goes_right
            left_valid = left & (data[:, weight_column] > 0)
            before = jnp.cumsum(jnp.stack([left, left_valid], 1).astype(jnp.int32), 0)
            before = jnp.concatenate([jnp.zeros((1, 2), jnp.int32), before])
            first = tree_of_slot * n + slot_frontier[:, START]  # global position
            in_left = (
                before[first + slot_frontier[:, SIZE]] - before[first]
            )  # [slots, 2]
            left_rank = before[:-1, 0] - before[first[safe_slot], 0]
            node_start = slot_frontier[safe_slot, START]
            new_position = jnp.where(
                goes_right,
                local_position + in_left[safe_slot, 0] - left_rank,
                node_start + left_rank,
            )
            new_position = jnp.where(splitting, new_position, local_position)
            new_node = jnp.where(
                splitting, new_left[safe_slot] + goes_right.astype(jnp.int32), node
            )
            moved = (
                jnp.zeros((rows, 2), jnp.int32)
                .at[block_start + new_position]
                .set(jnp.stack([order, new_node], 1), unique_indices=True)
            )

            # The children form the next frontier, in the order they were made.
            weight_left, residual_left, weight, residual = sums
            mean_left = slot_mean + residual_left / jnp.maximum(weight_left, 1e-30)
            mean_right = slot_mean + (residual - residual_left) / jnp.maximum(
                weight - weight_left, 1e-30
            )
            left_child = jnp.stack(
                [slot_frontier[:, START], in_left[:, 0], in_left[:, 1],
                 jax.lax.bitcast_convert_type(mean_left, jnp.int32)], 1,
            )  # fmt: skip
            right_child = jnp.stack(
                [slot_frontier[:, START] + in_left[:, 0],
                 slot_frontier[:, SIZE] - in_left[:, 0],
                 slot_frontier[:, COUNT] - in_left[:, 1],
                 jax.lax.bitcast_convert_type(mean_right, jnp.int32)], 1,
            )  # fmt: skip
            child = jnp.where(split, tree_of_slot * n + 2 * rank, rows)
            frontier = (
                jnp.zeros((rows, 4), jnp.int32)
                .at[jnp.concatenate([child, child + 1])]
                .set(jnp.concatenate([left_child, right_child]), mode="drop")
            )
            new_end = end + 2 * jnp.sum(split_int, axis=1)
            return depth + 1, moved[:, 0], moved[:, 1], nodes, frontier, end, new_end

        return level

    # Most levels have far fewer splittable nodes than the n // 2 bound; a
    # smaller table makes them cheaper, and the bound holds for the others.
    bounds = sorted({max(n // 8, 1), slots_per_tree})
    bounds = [bound for bound in bounds if bound <= slots_per_tree]
    levels = [level_with(bound) for bound in bounds]

    def level(state):
        if len(levels) == 1:
            return levels[0](state)
        may_split = state[4][:, COUNT] >= row_min_split
        most = jnp.max(jnp.sum(may_split.reshape(num_trees, n), axis=1))
        tier = jnp.sum(most > jnp.array(bounds[:-1]))
        return jax.lax.switch(tier, levels, state)

    def growing(state):
        depth, start, end = state[0], state[-2], state[-1]
        return (depth < max_depth) & jnp.any(end > start)

    order = (tree_dataset[:, None] * n + jnp.arange(n)).reshape(-1)
    data = table[order].reshape(num_trees, n, width)
    weights = data[..., weight_column]
    weighted_y = weights * data[..., input_dim]
    root_mean = jnp.sum(weighted_y, 1) / jnp.maximum(jnp.sum(weights, 1), 1e-30)
    root = jnp.stack(
        [jnp.zeros(num_trees, jnp.int32), jnp.full(num_trees, n, jnp.int32),
         jnp.sum(weights > 0, 1).astype(jnp.int32),
         jax.lax.bitcast_convert_type(root_mean, jnp.int32)], 1,
    )  # fmt: skip
    frontier = jnp.zeros((num_trees, n, 4), jnp.int32).at[:, 0].set(root)
    unsplit = jnp.array([-1, 0, 0], jnp.int32)
    init = (
        jnp.int32(0),
        order,
        jnp.zeros(rows, jnp.int32),
        jnp.tile(unsplit, (num_trees * max_nodes, 1)),
        frontier.reshape(rows, 4),
        jnp.zeros(num_trees, jnp.int32),
        jnp.ones(num_trees, jnp.int32),
    )
    # A while loop stops at the deepest leaf; fitting is never differentiated.
    _, order, node, nodes, *_ = jax.lax.while_loop(growing, level, init)
    data = table[order]
    leaf_weight, leaf_weighted_y = jax.ops.segment_sum(
        jnp.stack(
            [data[:, weight_column], data[:, weight_column] * data[:, input_dim]], 1
        ),
        node_offset[tree_of_position] + node,
        num_segments=num_trees * max_nodes,
    ).T
    value = jnp.where(
        leaf_weight > 0, leaf_weighted_y / jnp.maximum(leaf_weight, 1e-30), 0.0
    )
    nodes = nodes.reshape(num_trees, max_nodes, 3)
    threshold = jax.lax.bitcast_convert_type(nodes[..., 2], jnp.float32)
    return nodes[..., 0], threshold, nodes[..., 1], value.reshape(num_trees, -1)
