"""The fit/predict contract shared by the meta-level regressors.

A regressor is a frozen, hashable object holding STATIC config (shapes, loop
lengths); what it learns is a pytree of arrays returned by `fit`. Both methods are
pure, jit and vmap over datasets of equal size; ragged datasets are padded and the
padding gets weight 0.
"""

from typing import Protocol

from jaxmeta.types import Array, Key, PyTree


class Regressor(Protocol):
    def fit(self, key: Key, x: Array, y: Array, weights: Array | None = None) -> PyTree:
        """Fit on x: [n, input_dim], y: [n]; weights: [n] >= 0 (0 = padding)."""
        ...

    def predict(self, params: PyTree, x: Array) -> Array:
        """Predict y: [m] at x: [m, input_dim] from the fitted params."""
        ...
