"""Experiment configs as files and command-line overrides.

Config files are TOML (read with the standard library's `tomllib`). An override
`--set key=value` names a field by its dotted path (`population_size=64`,
`learner_config.num_envs=8`, `dims.learning_rate.high=1e-2`,
`run.checkpoint_every=1`); the value is read as a TOML value (`64`, `1e-2`,
`true`, `[0, 500]`, `"CMA_ES"`), and a bare word that is not one is taken as a
string (`searcher=random`). Search-space dims are tables:
`learning_rate = {kind = "log_uniform", low = 3e-4, high = 3e-2}` (kinds:
log_uniform, uniform, logit, categorical with `choices = [...]`).
"""

import dataclasses
import os
import tomllib

from jaxmeta.search.dimensions import Categorical, Logit, LogUniform, Uniform
from jaxmeta.validation import unknown_name

DIM_KINDS = {
    "log_uniform": LogUniform,
    "uniform": Uniform,
    "logit": Logit,
    "categorical": Categorical,
}
_DIM_NAMES = {cls: kind for kind, cls in DIM_KINDS.items()}


def load_config_file(path: str) -> dict:
    """The TOML file `path` as a dict. ValueError for a missing, unreadable
    or malformed file, naming it (and the line, for bad TOML)."""
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"config file must be a path, got {path!r}")
    if not os.path.isfile(path):
        raise ValueError(f"config file {str(path)!r} does not exist")
    if not str(path).endswith(".toml"):
        raise ValueError(f"config file {str(path)!r} must be TOML (a .toml file)")
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(
            f"config file {str(path)!r} is not valid TOML: {err}"
        ) from None
    except UnicodeDecodeError as err:
        raise ValueError(f"config file {str(path)!r} is not text: {err}") from None


def parse_value(text: str):
    """An override's value: TOML if it parses as one, else the bare string."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(config: dict, overrides) -> dict:
    """`config` with each `key=value` of `overrides` set (dotted keys reach
    into tables, creating them). The fields themselves are checked by the
    experiment's config class. ValueError for an override without `=`."""
    out = _copy(config)
    for item in overrides or ():
        if not isinstance(item, str) or "=" not in item:
            raise ValueError(f"--set takes key=value, got {item!r}")
        key, text = item.split("=", 1)
        path = key.strip().split(".")
        if not all(path):
            raise ValueError(f"--set key must be a dotted field name, got {key!r}")
        table = out
        for part in path[:-1]:
            child = table.get(part)
            if child is None:
                child = table[part] = {}
            if not isinstance(child, dict):
                raise ValueError(
                    f"--set {key}: {part!r} is {child!r}, not a table of fields"
                )
            table = child
        table[path[-1]] = parse_value(text.strip())
    return out


def _copy(value):
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def dim_from_table(name: str, table):
    """A search-space dim from `{kind = ..., low = ..., high = ...}` (or
    `choices` for categorical); dim objects pass through."""
    if isinstance(table, LogUniform | Uniform | Logit | Categorical):
        return table
    where = f"dims.{name}"
    if not isinstance(table, dict):
        raise TypeError(
            f'{where} must be a table like {{kind = "log_uniform", low = 1e-4, '
            f"high = 1e-2}}, got {table!r}"
        )
    kind = table.get("kind")
    if kind not in DIM_KINDS:
        raise unknown_name(f"{where}.kind", kind, DIM_KINDS)
    cls = DIM_KINDS[kind]
    fields = [f.name for f in dataclasses.fields(cls)]
    values = {k: v for k, v in table.items() if k != "kind"}
    for field in values:
        if field not in fields:
            raise unknown_name(f"{where} field", field, ["kind", *fields])
    if kind == "categorical" and isinstance(values.get("choices"), list):
        # TOML lists (e.g. hidden = [[64, 64], [128]]) as hashable tuples.
        values["choices"] = tuple(_frozen(c) for c in values["choices"])
    missing = [f for f in fields if f not in values]
    if missing:
        raise ValueError(f"{where} ({kind}) needs {', '.join(missing)}")
    try:
        return cls(**values)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None


def _frozen(value):
    return tuple(_frozen(v) for v in value) if isinstance(value, list) else value


def _thawed(value):
    return [_thawed(v) for v in value] if isinstance(value, tuple) else value


def dim_to_table(dim) -> dict:
    """The table form of a dim (inverse of `dim_from_table`)."""
    values = {f.name: getattr(dim, f.name) for f in dataclasses.fields(dim)}
    if isinstance(dim, Categorical):
        values["choices"] = _thawed(dim.choices)
    return {"kind": _DIM_NAMES[type(dim)], **values}


def dataclass_from_dict(cls, values: dict, where: str, required=()):
    """Build the config dataclass `cls` from `values`: unknown names rejected
    with the closest field suggested, required fields checked; each field's
    own checks run in `cls.__post_init__`."""
    if not isinstance(values, dict):
        raise TypeError(f"{where} must be a table of fields, got {values!r}")
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    for name in values:
        if name not in names:
            raise unknown_name(f"{where} field", name, names)
    missing = [name for name in required if name not in values]
    if missing:
        raise ValueError(f"{where} needs {', '.join(missing)}")
    return cls(**values)
