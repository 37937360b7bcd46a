"""Fixed schedules: controllers with no state beyond the base hparams.

Each sets one hparams field from the index of the update about to run, t =
`signals["update"]`; its numbers are traced `ctrl_params`, so a population
of schedules (or a search over their ends) is one program:

| controller               | value at update t                               |
|--------------------------|-------------------------------------------------|
| `Constant()`             | the base hparams, unchanged                     |
| `LinearSchedule(f, T)`   | start + (end - start) * min(t / T, 1)           |
| `CosineSchedule(f, T)`   | end + (start - end) * (1 + cos(pi min(t/T, 1))) / 2 |
| `StepSchedule(f, k)`     | start * factor ** floor(t / k)                  |
| `UniformRandom(f, a, b)` | a fresh draw from U[low, high] (seed 002's random KL) |

Default params: start = the base value of the field; end = `end_fraction` x
start (linear, cosine); factor = `factor` (step).
"""

import dataclasses
import math

import jax
import jax.numpy as jnp
from flax import struct

from jaxmeta.validation import unknown_name


@struct.dataclass
class NoParams:
    """A controller without tunable numbers."""


@struct.dataclass
class ScheduleState:
    base: object  # the learner's base hparams


@struct.dataclass
class RangeParams:
    start: jnp.ndarray  # [] value at update 0
    end: jnp.ndarray  # [] value from update `horizon` on


@struct.dataclass
class StepParams:
    start: jnp.ndarray  # [] value at update 0
    factor: jnp.ndarray  # [] multiplier every `every` updates


@dataclasses.dataclass(frozen=True)
class Constant:
    """The base hparams at every update (Controlled(learner, Constant())
    trains exactly like the learner)."""

    def default_params(self, hparams) -> NoParams:
        return NoParams()

    def init(self, key, ctrl_params, hparams) -> ScheduleState:
        return ScheduleState(hparams)

    def act(self, key, ctrl_state, ctrl_params, signals):
        return ctrl_state.base, ctrl_state


def check_scalar_field(hparams, field: str, what: str = "schedule") -> None:
    """`field` names a scalar field of the learner's hparams."""
    names = [f.name for f in dataclasses.fields(hparams)]
    if field not in names:
        raise unknown_name(f"{type(hparams).__name__} field ({what})", field, names)
    if jnp.shape(getattr(hparams, field)) != ():
        raise ValueError(f"{what} field {field!r} must be a scalar hparam")


@dataclasses.dataclass(frozen=True)
class FieldController:
    """A controller that sets one scalar field of the base hparams every
    update to `choose(key, ctrl_params, signals)` (default: a schedule's
    `value(ctrl_params, t)` at t = `signals["update"]`)."""

    field: str
    kind = "schedule"  # names the controller in a bad field's error

    def check(self, hparams) -> None:
        check_scalar_field(hparams, self.field, self.kind)

    def init(self, key, ctrl_params, hparams) -> ScheduleState:
        return ScheduleState(hparams)

    def choose(self, key, ctrl_params, signals):
        return self.value(ctrl_params, signals["update"])

    def act(self, key, ctrl_state, ctrl_params, signals):
        value = self.choose(key, ctrl_params, signals)
        base = ctrl_state.base
        dtype = jnp.asarray(getattr(base, self.field)).dtype
        return base.replace(**{self.field: value.astype(dtype)}), ctrl_state


def _check_positive(name, value, kind=int):
    if isinstance(value, bool) or not isinstance(value, kind) or value <= 0:
        raise ValueError(f"{name} must be a positive {kind.__name__}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class LinearSchedule(FieldController):
    """`field` from start to end over `horizon` updates, then end."""

    horizon: int = 100
    end_fraction: float = 0.1

    def __post_init__(self):
        _check_positive("horizon", self.horizon)

    def default_params(self, hparams) -> RangeParams:
        start = jnp.asarray(getattr(hparams, self.field), jnp.float32)
        return RangeParams(start, start * self.end_fraction)

    def value(self, params: RangeParams, t):
        progress = jnp.minimum(t / self.horizon, 1.0)
        return params.start + (params.end - params.start) * progress


@dataclasses.dataclass(frozen=True)
class CosineSchedule(LinearSchedule):
    """`field` from start to end along half a cosine over `horizon` updates."""

    def value(self, params: RangeParams, t):
        progress = jnp.minimum(t / self.horizon, 1.0)
        weight = 0.5 * (1.0 + jnp.cos(math.pi * progress))
        return params.end + (params.start - params.end) * weight


@dataclasses.dataclass(frozen=True)
class StepSchedule(FieldController):
    """`field` multiplied by factor every `every` updates."""

    every: int = 10
    factor: float = 0.5

    def __post_init__(self):
        _check_positive("every", self.every)
        _check_positive("factor", self.factor, float)

    def default_params(self, hparams) -> StepParams:
        start = jnp.asarray(getattr(hparams, self.field), jnp.float32)
        return StepParams(start, jnp.float32(self.factor))

    def value(self, params: StepParams, t):
        return params.start * params.factor ** jnp.floor(t / self.every)


@struct.dataclass
class UniformParams:
    low: jnp.ndarray  # []
    high: jnp.ndarray  # []


@dataclasses.dataclass(frozen=True)
class UniformRandom(FieldController):
    """`field` drawn from U[low, high] afresh every update (the random-KL
    training runs of seeds/002 that the meta-dataset is made of)."""

    low: float = 0.001
    high: float = 0.05

    def __post_init__(self):
        _check_positive("low", float(self.low), float)
        if not self.high > self.low:
            raise ValueError(
                f"high must exceed low, got low={self.low!r}, high={self.high!r}"
            )

    def default_params(self, hparams) -> UniformParams:
        return UniformParams(jnp.float32(self.low), jnp.float32(self.high))

    def choose(self, key, ctrl_params: UniformParams, signals):
        return jax.random.uniform(
            key, (), minval=ctrl_params.low, maxval=ctrl_params.high
        )
