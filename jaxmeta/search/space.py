"""Search spaces: declared transforms between an unconstrained box and hparams.

A `SearchSpace` maps a vector `z` of unconstrained coordinates (one per
continuous dimension) to a learner's hparams struct and back. Searchers work in
`z`; learners only ever see hparams. Each continuous dimension declares its
transform:

| dim                    | natural value x  | unconstrained z    |
|------------------------|------------------|--------------------|
| `LogUniform(low, high)`| rates, scales    | log x              |
| `Uniform(low, high)`   | anything bounded | x                  |
| `Logit(low, high)`     | discounts in 0-1 | log x - log(1 - x) |

Uniform sampling of `z` inside the box is log-uniform sampling of a LogUniform
dimension, and so on.

`Categorical(choices)` dimensions are STATIC structural choices (hidden size,
number of workers): they change shapes or branches, so they cannot be vmapped
and are not hparams leaves. They name static learner-config fields instead.
The searchers do not model them (they search `z` only), and `run_tune` refuses
them; code that sweeps them draws them with `sample_static`, splits the
population with `group_by_static`, builds one learner per distinct combination
and compiles once per group:

    idx = space.sample_static(key, population_size)  # [pop, n_cat] ints
    for static_values, members in space.group_by_static(idx):
        learner = dataclasses.replace(base_learner, **static_values)
        ... train hparams[members] with this learner ...
"""

import dataclasses
import itertools
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmeta.search.dimensions import (
    Categorical,
    ContinuousDim,
    Logit,
    LogUniform,
    Uniform,
)
from jaxmeta.types import Array, Key, PyTree
from jaxmeta.validation import unknown_name


class SearchSpace:
    """Continuous and static dimensions over a default hparams struct `base`.

    `SearchSpace(base, learning_rate=LogUniform(1e-4, 1e-2), gamma=Logit(.9, .999),
    hidden_size=Categorical((32, 64)))`. Every continuous dim names a scalar field
    of `base`; fields not searched keep their `base` value. Hashable by value, so
    a searcher holding it can be a static jit argument.
    """

    def __init__(self, base: PyTree, **dims):
        if not dataclasses.is_dataclass(base) or isinstance(base, type):
            raise ValueError(
                f"base must be an hparams struct instance (a flax.struct "
                f"dataclass), got {type(base).__name__}"
            )
        allowed = tuple(f.name for f in dataclasses.fields(base))
        continuous, categorical = {}, {}
        for name, dim in dims.items():
            if isinstance(dim, Categorical):
                if name in allowed:
                    raise ValueError(
                        f"{name}: Categorical is for static learner-config fields, "
                        f"but {name!r} is an hparams field; use LogUniform, "
                        f"Uniform or Logit for it"
                    )
                categorical[name] = dim.choices
            elif isinstance(dim, LogUniform | Uniform | Logit):
                if name not in allowed:
                    raise unknown_name(
                        f"{type(base).__name__} field (dims)", name, allowed
                    )
                if np.shape(getattr(base, name)) != ():
                    raise ValueError(
                        f"{name}: a searched hparams field must be a scalar, got "
                        f"shape {np.shape(getattr(base, name))}"
                    )
                continuous[name] = dim
            else:
                raise ValueError(
                    f"{name}: dimension must be LogUniform, Uniform, Logit or "
                    f"Categorical, got {dim!r}"
                )
        self.base = base
        self._dims: dict[str, ContinuousDim] = continuous
        self.categorical: dict[str, tuple] = categorical
        self.names: tuple[str, ...] = tuple(continuous)
        self.dim: int = len(continuous)
        z_bounds = [d.z_bounds() for d in continuous.values()]
        self._low = np.array([b[0] for b in z_bounds], np.float32)
        self._high = np.array([b[1] for b in z_bounds], np.float32)
        base_key = tuple(
            (n, np.asarray(getattr(base, n)).tobytes(), np.shape(getattr(base, n)))
            for n in allowed
        )
        self._key = (
            type(base),
            base_key,
            tuple(continuous.items()),
            tuple(categorical.items()),
        )

    def __eq__(self, other):
        return isinstance(other, SearchSpace) and self._key == other._key

    def __hash__(self):
        return hash(self._key)

    def __repr__(self):
        dims = [f"{n}={d!r}" for n, d in self._dims.items()]
        dims += [f"{n}=Categorical({c!r})" for n, c in self.categorical.items()]
        return f"SearchSpace({type(self.base).__name__}, {', '.join(dims)})"

    @property
    def dims(self) -> dict[str, ContinuousDim]:
        """The continuous dims by name, in `names` order (read-only use)."""
        return dict(self._dims)

    @property
    def bounds(self) -> tuple[Array, Array]:
        """(low, high): each `[dim]` float32, in the unconstrained coordinates."""
        return jnp.asarray(self._low), jnp.asarray(self._high)

    # Jitted with the space static (it hashes by value): eager callers compile
    # once per shape instead of once per primitive; inside jit they inline.
    @partial(jax.jit, static_argnames=("self",))
    def to_hparams(self, z: Array) -> PyTree:
        """Unconstrained `z: [..., dim]` (clipped to the box) -> hparams.

        Returns an instance of `type(base)` whose leaves have leading shape
        `z.shape[:-1]` (e.g. `[pop]`; none for `z: [dim]`). Unsearched fields are
        broadcast from `base`. Differentiable inside the box.
        """
        z = jnp.asarray(z, jnp.float32)
        if z.ndim == 0 or z.shape[-1] != self.dim:
            raise ValueError(f"z must have shape [..., {self.dim}], got {z.shape}")
        lead = z.shape[:-1]
        low, high = self.bounds
        z = jnp.clip(z, low, high)
        leaves = {}
        for f in dataclasses.fields(self.base):
            value = jnp.asarray(getattr(self.base, f.name))
            # A strong dtype, so Python-float defaults do not make weak-typed
            # leaves that retrace when mixed with searched (strong) ones.
            value = jnp.asarray(value, value.dtype)
            if f.name in self._dims:
                i = self.names.index(f.name)
                natural = self._dims[f.name].forward(z[..., i])
                leaves[f.name] = natural.astype(value.dtype)
            else:
                leaves[f.name] = jnp.broadcast_to(value, lead + value.shape)
        return self.base.replace(**leaves)

    @partial(jax.jit, static_argnames=("self",))
    def from_hparams(self, hparams: PyTree) -> Array:
        """Inverse of `to_hparams` (no clipping): hparams with leaves `[...]`
        -> `z: [..., dim]` float32."""
        if self.dim == 0:
            lead = jnp.shape(getattr(hparams, dataclasses.fields(hparams)[0].name))
            return jnp.zeros((*lead, 0), jnp.float32)
        columns = [
            self._dims[n].inverse(jnp.asarray(getattr(hparams, n), jnp.float32))
            for n in self.names
        ]
        return jnp.stack(columns, axis=-1)

    @partial(jax.jit, static_argnames=("self", "n"))
    def sample(self, key: Key, n: int) -> Array:
        """`n` points uniform in the unconstrained box: `z: [n, dim]` float32."""
        low, high = self.bounds
        return jax.random.uniform(key, (n, self.dim), jnp.float32, low, high)

    def sample_static(self, key: Key, n: int) -> np.ndarray:
        """`n` uniform draws of the categorical dims: `[n, n_cat]` int indices
        into each dim's choices (host array; categorical order as declared)."""
        sizes = np.array([len(c) for c in self.categorical.values()], np.int32)
        if sizes.size == 0:
            return np.zeros((n, 0), np.int32)
        u = np.asarray(jax.random.uniform(key, (n, sizes.size)))
        return np.minimum((u * sizes).astype(np.int32), sizes - 1)

    def static_values(self, indices: np.ndarray) -> dict[str, Any]:
        """One row of categorical indices `[n_cat]` -> {field: chosen value}."""
        return {
            name: choices[int(i)]
            for (name, choices), i in zip(
                self.categorical.items(), indices, strict=True
            )
        }

    def group_by_static(
        self, indices: np.ndarray
    ) -> list[tuple[dict[str, Any], np.ndarray]]:
        """Split population members by their static combination.

        `indices: [pop, n_cat]` ints (from `sample_static`). Returns one
        `(static_values, members)` per distinct combination, ordered by the
        combination's indices; `members` is an int array of population positions.
        With no categorical dims, a single group holds every member.
        """
        indices = np.asarray(indices, np.int64)
        if indices.ndim != 2 or indices.shape[1] != len(self.categorical):
            raise ValueError(
                f"indices must have shape [pop, {len(self.categorical)}], "
                f"got {indices.shape}"
            )
        groups = []
        for combo in sorted({tuple(row) for row in indices.tolist()}):
            members = np.flatnonzero((indices == np.array(combo)).all(axis=1))
            groups.append((self.static_values(np.array(combo)), members))
        return groups

    def all_static_combinations(self) -> list[dict[str, Any]]:
        """Every combination of the categorical choices (for exhaustive sweeps)."""
        names = list(self.categorical)
        return [
            dict(zip(names, combo, strict=True))
            for combo in itertools.product(*self.categorical.values())
        ]
