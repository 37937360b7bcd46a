"""Plain-Python input checks shared by every layer: unknown names with the
closest valid one suggested, and config values checked against the types a
dataclass declares. Everything here runs before anything is traced."""

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass


def unknown_name(kind: str, name, allowed: Iterable[str]) -> ValueError:
    """A ValueError for `name` not among `allowed`: 'unknown KIND 'x'; did you
    mean 'y'? allowed values: ...' (the suggestion only when one is close)."""
    allowed = sorted(allowed)
    close = difflib.get_close_matches(str(name), allowed, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return ValueError(
        f"unknown {kind} {name!r}; {hint}allowed values: {', '.join(allowed)}"
    )


def check_names(kind: str, given: Iterable[str], allowed: Iterable[str]) -> None:
    """Raise `unknown_name` for the first of `given` not in `allowed`."""
    allowed = list(allowed)
    for name in given:
        if name not in allowed:
            raise unknown_name(kind, name, allowed)


def _describe(annotation) -> str:
    if annotation in (int, float, str, bool):
        return {
            int: "an int",
            float: "a number",
            str: "a string",
            bool: "true or false",
        }[annotation]
    origin = typing.get_origin(annotation)
    if origin is tuple:
        return "a list"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return "none"
    return str(annotation)


def coerce(where: str, value, annotation):
    """`value` checked against a field's `annotation` (int, float, bool, str,
    tuple[...], unions with None; others pass unchecked). Lists become tuples
    for tuple fields and ints become floats for float fields. Raises TypeError
    naming `where`, the expected type and the value."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(annotation):
            if option is type(None):
                if value is None:
                    return None
                continue
            try:
                return coerce(where, value, option)
            except TypeError as err:
                errors.append(err)
        raise TypeError(f"{where} must be {_describe(annotation)}, got {value!r}")
    if annotation is bool:
        if not isinstance(value, bool):
            raise TypeError(f"{where} must be true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{where} must be an int, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"{where} must be a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise TypeError(f"{where} must be a string, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise TypeError(f"{where} must be a list, got {value!r}")
        args = typing.get_args(annotation)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(
                coerce(f"{where}[{i}]", v, args[0]) for i, v in enumerate(value)
            )
        if args and len(args) != len(value):
            raise TypeError(
                f"{where} must be a list of {len(args)} values, got {value!r}"
            )
        return (
            tuple(
                coerce(f"{where}[{i}]", v, a)
                for i, (v, a) in enumerate(zip(value, args, strict=True))
            )
            if args
            else tuple(value)
        )
    return value


def checked_fields(cls, values: dict, where: str, skip: Iterable[str] = ()) -> dict:
    """`values` for the dataclass `cls`: unknown names rejected (closest one
    suggested), each value coerced to its field's declared type. `skip` names
    fields not settable this way (e.g. `env`). `where` prefixes messages
    ("learner_config")."""
    if not isinstance(values, dict):
        raise TypeError(f"{where} must be a table of fields, got {values!r}")
    skip = set(skip)
    fields = {
        f.name: f for f in dataclasses.fields(cls) if f.init and f.name not in skip
    }
    hints = typing.get_type_hints(cls)
    out = {}
    for name, value in values.items():
        if name not in fields:
            raise unknown_name(f"{where} field", name, fields)
        out[name] = coerce(f"{where}.{name}", value, hints.get(name, typing.Any))
    return out


@dataclass(frozen=True)
class Domain:
    """Allowed values of one range's ends: ``minimum (<|<=) x (<|<=) maximum``."""

    minimum: float = -math.inf
    maximum: float = math.inf
    open_minimum: bool = False
    open_maximum: bool = False

    def contains(self, value: float) -> bool:
        above = value > self.minimum if self.open_minimum else value >= self.minimum
        below = value < self.maximum if self.open_maximum else value <= self.maximum
        return above and below

    def describe(self) -> str:
        left = "(" if self.open_minimum else "["
        right = ")" if self.open_maximum else "]"
        return f"{left}{self.minimum}, {self.maximum}{right}"


POSITIVE = Domain(minimum=0.0, open_minimum=True)
NONNEGATIVE = Domain(minimum=0.0)


def check_in_domains(where: str, values: dict, domains: dict) -> None:
    """Concrete numbers in `values` (scalars or arrays; traced ones are left
    alone) must lie in `domains[name]`; ValueError names the field and the
    allowed values."""
    import numpy as np

    for name, domain in domains.items():
        if name not in values:
            continue
        try:
            array = np.asarray(values[name], dtype=float)
        except Exception:  # noqa: BLE001 - a tracer: checked elsewhere
            continue
        bad = [
            x
            for x in array.reshape(-1)
            if not (math.isfinite(x) and domain.contains(x))
        ]
        if bad:
            raise ValueError(
                f"{where}.{name} must lie in {domain.describe()}, got {bad[0]!r}"
            )
