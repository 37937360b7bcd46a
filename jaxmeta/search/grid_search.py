"""Grid search: a full factorial grid in the unconstrained coordinates, handed
out in chunks of `population_size`, one chunk per ask.

Grid point `i` (row-major, the last dimension varying fastest) goes to ask
number `i // population_size`. The last chunk is padded by repeating grid points
from the start; padded members are marked in the state and ignored by `tell`.
Once the grid is exhausted (`generation >= num_generations`) every member is
padding. A dimension with one point sits at the box centre; with `n >= 2` points
they span the box, both ends included (log-spaced for LogUniform, etc.).
"""

import dataclasses
import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxmeta.search.base import (
    check_scores,
    check_searcher_config,
    empty_record,
    population_z,
    record_tell,
    rescored_record,
    sanitise_scores,
    tell_metrics,
)
from jaxmeta.search.space import SearchSpace
from jaxmeta.types import Array, Key, Metrics, PyTree


@struct.dataclass
class GridSearchParams:
    """Grid search has no tunable meta-parameters."""


@struct.dataclass
class GridSearchState:
    best_z: Array  # [dim] best point so far (base projected into the box at init)
    best_score: Array  # [] float32, -inf until a finite score is told
    generation: Array  # [] int32, number of tells so far
    asked_is_grid: Array  # [pop] bool, False for padding in the last ask


@dataclasses.dataclass(frozen=True)
class GridSearch:
    """Exhaustive grid over `space` with `points_per_dim` points per dimension
    (an int for all dims, or a tuple with one int per dim in `space.names`)."""

    space: SearchSpace
    population_size: int
    points_per_dim: int | tuple[int, ...] = 3

    def __post_init__(self):
        check_searcher_config(self.space, self.population_size)
        points = self.points_per_dim
        if isinstance(points, int) and not isinstance(points, bool):
            points = (points,) * self.space.dim
        if not isinstance(points, tuple | list) or len(points) != self.space.dim:
            raise ValueError(
                f"points_per_dim must be an int or {self.space.dim} ints (one per "
                f"dim in {self.space.names}), got {self.points_per_dim!r}"
            )
        for name, n in zip(self.space.names, points, strict=True):
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(
                    f"points_per_dim for {name!r} must be an int >= 1, got {n!r}"
                )
        if math.prod(points) >= 2**31 - self.population_size:
            raise ValueError(
                f"points_per_dim gives {math.prod(points)} grid points; allowed: "
                f"fewer than 2**31"
            )
        object.__setattr__(self, "points_per_dim", tuple(points))

    @property
    def num_points(self) -> int:
        """Number of grid points."""
        return math.prod(self.points_per_dim)

    @property
    def num_generations(self) -> int:
        """Asks needed to cover the grid once."""
        return -(-self.num_points // self.population_size)

    def grid_z(self, flat_index: Array) -> Array:
        """Grid points `flat_index: [n]` int (taken modulo `num_points`) ->
        `z: [n, dim]` in the unconstrained coordinates."""
        flat_index = jnp.asarray(flat_index, jnp.int32) % self.num_points
        if self.space.dim == 0:
            return jnp.zeros((flat_index.shape[0], 0), jnp.float32)
        low, high = self.space.bounds
        points = np.array(self.points_per_dim, np.int32)
        # Row-major strides: the last dimension varies fastest.
        strides = np.cumprod(np.concatenate([[1], points[1:][::-1]]))[::-1]
        digits = (flat_index[:, None] // strides.astype(np.int32)) % points
        step = (high - low) / np.maximum(points - 1, 1)
        single = jnp.asarray(points == 1)
        return jnp.where(single, (low + high) / 2, low + digits * step)

    def default_meta_params(self) -> GridSearchParams:
        return GridSearchParams()

    @partial(jax.jit, static_argnames=("self",))
    def init(self, key: Key, meta_params: GridSearchParams) -> GridSearchState:
        """Start at grid point 0 with an empty record."""
        return GridSearchState(
            **empty_record(self.space),
            asked_is_grid=jnp.zeros(self.population_size, bool),
        )

    @partial(jax.jit, static_argnames=("self",))
    def ask(
        self, key: Key, state: GridSearchState, meta_params: GridSearchParams
    ) -> tuple[PyTree, GridSearchState]:
        """-> (the next chunk of grid points as hparams `[pop]`, state marking
        which members are real grid points)."""
        flat_index = state.generation * self.population_size + jnp.arange(
            self.population_size, dtype=jnp.int32
        )
        hparams = self.space.to_hparams(self.grid_z(flat_index))
        return hparams, state.replace(asked_is_grid=flat_index < self.num_points)

    @partial(jax.jit, static_argnames=("self",))
    def tell(
        self,
        key: Key,
        hparams_population: PyTree,
        scores: Array,
        state: GridSearchState,
        meta_params: GridSearchParams,
    ) -> tuple[GridSearchState, Metrics]:
        """Record the best of `scores: [pop]` over the real grid members and move
        to the next chunk (higher is better; NaN/inf = failed)."""
        z = population_z(self.space, hparams_population, self.population_size)
        scores, invalid = sanitise_scores(check_scores(scores, self.population_size))
        counted = state.asked_is_grid
        state = state.replace(
            **record_tell(state, z, jnp.where(counted, scores, -jnp.inf))
        )
        return state, tell_metrics(scores, invalid, state.best_score, counted)

    def rescore(self, state, z: Array, scores: Array, mask: Array):
        """Every told point's score replaced (see `Searcher.rescore`): only the
        best-so-far record depends on past scores."""
        return state.replace(**rescored_record(self.space, z, scores, mask))

    def trial_mask(self, state: GridSearchState) -> Array:
        """[pop] bool: the members of the last ask that are grid points (False
        for the padding of the last chunk and after the grid is exhausted)."""
        return state.asked_is_grid

    def best_hparams(self, state: GridSearchState) -> PyTree:
        """The best config seen so far, unbatched hparams."""
        return self.space.to_hparams(state.best_z)
