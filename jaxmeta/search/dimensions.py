"""The dimensions of a search space (see space.py for the transforms they declare).

Each validates its numbers on construction, so a bad space fails before any
compilation with the class, the field and the allowed values in the message.
"""

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmeta.types import Array


def _check_number(cls: str, field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"{cls}.{field} must be a real number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{cls}.{field} must be finite, got {value!r}")
    return float(value)


def _check_order(cls: str, low: float, high: float) -> None:
    if not low < high:
        raise ValueError(
            f"{cls}.low must be < {cls}.high, got low={low!r} high={high!r}"
        )


@dataclasses.dataclass(frozen=True)
class LogUniform:
    """Positive value, searched as z = log x in [log low, log high]."""

    low: float
    high: float

    def __post_init__(self):
        low = _check_number("LogUniform", "low", self.low)
        high = _check_number("LogUniform", "high", self.high)
        if low <= 0:
            raise ValueError(
                f"LogUniform.low must be > 0 (allowed: 0 < low < high), got {low!r}"
            )
        _check_order("LogUniform", low, high)

    def z_bounds(self) -> tuple[float, float]:
        return math.log(self.low), math.log(self.high)

    def forward(self, z: Array) -> Array:
        return jnp.exp(z)

    def inverse(self, x: Array) -> Array:
        return jnp.log(x)


@dataclasses.dataclass(frozen=True)
class Uniform:
    """Bounded value, searched as itself in [low, high]."""

    low: float
    high: float

    def __post_init__(self):
        low = _check_number("Uniform", "low", self.low)
        high = _check_number("Uniform", "high", self.high)
        _check_order("Uniform", low, high)

    def z_bounds(self) -> tuple[float, float]:
        return float(self.low), float(self.high)

    def forward(self, z: Array) -> Array:
        return z

    def inverse(self, x: Array) -> Array:
        return x


@dataclasses.dataclass(frozen=True)
class Logit:
    """Probability or discount in (0, 1), searched as z = logit x."""

    low: float
    high: float

    def __post_init__(self):
        low = _check_number("Logit", "low", self.low)
        high = _check_number("Logit", "high", self.high)
        if low <= 0:
            raise ValueError(
                f"Logit.low must be > 0 (allowed: 0 < low < high < 1), got {low!r}"
            )
        if high >= 1:
            raise ValueError(
                f"Logit.high must be < 1 (allowed: 0 < low < high < 1), got {high!r}"
            )
        _check_order("Logit", low, high)

    def z_bounds(self) -> tuple[float, float]:
        return tuple(math.log(p) - math.log1p(-p) for p in (self.low, self.high))

    def forward(self, z: Array) -> Array:
        return jax.nn.sigmoid(z)

    def inverse(self, x: Array) -> Array:
        return jnp.log(x) - jnp.log1p(-x)


@dataclasses.dataclass(frozen=True)
class Categorical:
    """A static structural choice among `choices` (hashable values)."""

    choices: tuple

    def __post_init__(self):
        if isinstance(self.choices, str | bytes) or not hasattr(
            self.choices, "__iter__"
        ):
            raise ValueError(
                f"Categorical.choices must be a non-empty sequence, "
                f"got {self.choices!r}"
            )
        choices = tuple(self.choices)
        if not choices:
            raise ValueError("Categorical.choices must be a non-empty sequence")
        try:
            distinct = len(set(choices)) == len(choices)
        except TypeError as err:
            raise ValueError(
                f"Categorical.choices must be hashable values, got {choices!r}"
            ) from err
        if not distinct:
            raise ValueError(f"Categorical.choices must be distinct, got {choices!r}")
        object.__setattr__(self, "choices", choices)


ContinuousDim = LogUniform | Uniform | Logit
