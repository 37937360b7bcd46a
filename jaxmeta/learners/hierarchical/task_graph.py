"""MAXQ task graphs (Dietterich 2000): subtasks, their children, termination
predicates and state abstractions, as static arrays and pure functions.

A graph has nodes 0..n-1, node 0 the root. A primitive node executes one env
action; a composite node has children (subtasks or primitives), a
termination predicate T_i(f) and an abstraction `abstract_i(f) -> index`
into its completion table C(i, ., .) of `sizes[i]` rows (for a primitive:
into its value table V(i, .)). `f` are the features `features(obs)` of a
state (for Taxi: taxi row, column, passenger, destination). Built in plain
Python and checked at construction: indices in range, every composite with
children, no cycles (the graph is a DAG, so the active subtasks fit a stack
of `depth + 1` levels), every node reachable from the root.

`taxi_task_graph()` is the paper's Taxi graph: Root -> Get, Put; Get ->
Pickup, Navigate(t); Put -> Putdown, Navigate(t); Navigate(t) -> the four
moves, for the four stands t. Its abstractions (docs/hierarchical.md, MAXQ):
Navigate(t) sees the taxi's cell (25); Get the taxi's cell and the
passenger (125); Put the taxi's cell and the destination (100); Root the
passenger and the destination (20); the moves' values one number each (a
move always pays -1), Pickup's the taxi's cell and the passenger (125),
Putdown's the taxi's cell, whether the passenger is aboard and the
destination (200). Each is exact for the undiscounted task (gamma = 1, as
the paper's Taxi experiments): a subtask's completion depends only on what
it sees.
"""

import dataclasses
import functools
from collections.abc import Callable

import jax.numpy as jnp
import numpy as np

from jaxmeta.envs import taxi


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity: holds callables
class TaskGraph:
    """names [n]; children [n] tuples of node indices (() for a primitive);
    action [n] env action of a primitive (-1 for a composite); sizes [n]
    rows of each node's table; terminated/abstract [n] callables of the
    features (terminated None for primitives: they end after one step);
    features: obs -> tuple of int32 arrays."""

    names: tuple[str, ...]
    children: tuple[tuple[int, ...], ...]
    action: tuple[int, ...]
    sizes: tuple[int, ...]
    terminated: tuple[Callable | None, ...]
    abstract: tuple[Callable, ...]
    features: Callable

    def __post_init__(self):
        n = len(self.names)
        for field in ("children", "action", "sizes", "terminated", "abstract"):
            if len(getattr(self, field)) != n:
                raise ValueError(
                    f"task graph field {field} must have one entry per node ({n}), "
                    f"got {len(getattr(self, field))}"
                )
        pairs = zip(self.children, self.action, strict=True)
        for i, (kids, action) in enumerate(pairs):
            where = f"task graph node {i} ({self.names[i]})"
            if any(not 0 <= c < n for c in kids):
                raise ValueError(
                    f"{where}: children must be node indices in 0..{n - 1}"
                )
            if kids and action >= 0:
                raise ValueError(f"{where}: a composite node has action -1")
            if not kids and action < 0:
                raise ValueError(f"{where}: a primitive node needs an action >= 0")
            if kids and self.terminated[i] is None:
                raise ValueError(f"{where}: a composite node needs a termination")
            if self.sizes[i] < 1:
                raise ValueError(f"{where}: sizes must be >= 1, got {self.sizes[i]}")
        order = _topological_order(self.children, self.names)
        if len(order) != n:
            unreachable = sorted(set(range(n)) - set(order))
            raise ValueError(
                f"task graph nodes {[self.names[i] for i in unreachable]} are not "
                "reachable from the root (node 0)"
            )
        object.__setattr__(self, "_order", tuple(order))

    @property
    def num_nodes(self) -> int:
        return len(self.names)

    @property
    def bottom_up(self) -> tuple[int, ...]:
        """Nodes with every child before its parents."""
        return tuple(reversed(self._order))

    @property
    def composites(self) -> tuple[int, ...]:
        return tuple(i for i, kids in enumerate(self.children) if kids)

    @property
    def primitives(self) -> tuple[int, ...]:
        return tuple(i for i, kids in enumerate(self.children) if not kids)

    @property
    def max_children(self) -> int:
        return max(len(kids) for kids in self.children)

    @functools.cached_property
    def depth(self) -> int:
        """Edges on the longest root-to-primitive path."""
        longest = {}
        for i in self.bottom_up:
            kids = self.children[i]
            longest[i] = 1 + max(longest[c] for c in kids) if kids else 0
        return longest[0]

    def child_table(self) -> np.ndarray:
        """[n, max_children] int32 children, padded with 0."""
        table = np.zeros((self.num_nodes, self.max_children), np.int32)
        for i, kids in enumerate(self.children):
            table[i, : len(kids)] = kids
        return table

    def child_mask(self) -> np.ndarray:
        """[n, max_children] bool: the real entries of `child_table`."""
        mask = np.zeros((self.num_nodes, self.max_children), bool)
        for i, kids in enumerate(self.children):
            mask[i, : len(kids)] = True
        return mask


def _topological_order(children, names) -> list[int]:
    """Nodes reachable from 0, parents before children; ValueError naming a
    cycle's nodes if there is one."""
    order, state = [], {}

    def visit(i, path):
        if state.get(i) == "open":
            cycle = [names[j] for j in path[path.index(i) :]] + [names[i]]
            raise ValueError(f"task graph has a cycle: {' -> '.join(cycle)}")
        if state.get(i) == "done":
            return
        state[i] = "open"
        for c in children[i]:
            visit(c, path + [i])
        state[i] = "done"
        order.append(i)

    visit(0, [])
    return order[::-1]


def _taxi_features(obs):
    return taxi.decode(jnp.asarray(obs, jnp.int32))


def _cell(f):
    return f[0] * taxi.NUM_COLS + f[1]


def _at_stand(f, t: int):
    return (f[0] == int(taxi.STANDS[t, 0])) & (f[1] == int(taxi.STANDS[t, 1]))


@functools.cache
def taxi_task_graph() -> TaskGraph:
    """The Taxi graph of Dietterich (2000), with the abstractions of the
    module docstring (cached: one object, so learners holding it are equal)."""
    cells, stands, aboard = 25, taxi.NUM_STANDS, taxi.IN_TAXI
    move_names = ("South", "North", "East", "West")  # Taxi's actions 0-3
    names = ["Root", "Get", "Put"]
    names += [f"Navigate({t})" for t in "RGYB"]
    names += [*move_names, "Pickup", "Putdown"]
    navigate, moves = (3, 4, 5, 6), (7, 8, 9, 10)
    pickup, putdown = 11, 12
    children = [(1, 2), (pickup, *navigate), (putdown, *navigate)]
    children += [moves] * 4 + [()] * 6
    action = [-1] * 7 + [0, 1, 2, 3, 4, 5]
    sizes = [(aboard + 1) * stands, cells * (aboard + 1), cells * stands]
    sizes += [cells] * 4 + [1] * 4 + [cells * (aboard + 1), cells * 2 * stands]
    terminated = [
        lambda f: jnp.zeros_like(f[0], bool),  # Root ends with the episode
        lambda f: f[2] == aboard,  # Get: passenger aboard
        lambda f: f[2] != aboard,  # Put: passenger out
    ]
    terminated += [functools.partial(_at_stand, t=t) for t in range(4)]
    terminated += [None] * 6
    abstract = [
        lambda f: f[2] * stands + f[3],
        lambda f: _cell(f) * (aboard + 1) + f[2],
        lambda f: _cell(f) * stands + f[3],
    ]
    abstract += [_cell] * 4
    abstract += [lambda f: jnp.zeros_like(f[0])] * 4
    abstract += [
        lambda f: _cell(f) * (aboard + 1) + f[2],
        lambda f: (_cell(f) * 2 + (f[2] == aboard)) * stands + f[3],
    ]
    return TaskGraph(
        tuple(names), tuple(children), tuple(action), tuple(sizes),
        tuple(terminated), tuple(abstract), _taxi_features,
    )  # fmt: skip
