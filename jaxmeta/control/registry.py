"""Name -> controller class, for configs and registry-parametrised tests.

Controllers are registered lazily as "module:Class" strings, so importing
this module imports none of them.
"""

import importlib

from jaxmeta.validation import checked_fields, unknown_name

_LAZY: dict[str, str] = {
    "constant": "jaxmeta.control.schedules:Constant",
    "linear": "jaxmeta.control.schedules:LinearSchedule",
    "cosine": "jaxmeta.control.schedules:CosineSchedule",
    "step": "jaxmeta.control.schedules:StepSchedule",
    "random": "jaxmeta.control.schedules:UniformRandom",
    "fqi": "jaxmeta.control.fqi:FQIController",
    "bierl": "jaxmeta.control.lstm:BiERLController",
    "bierl-mlp": "jaxmeta.control.lstm:MLPController",
}
_CLASSES: dict[str, type] = {}


def register(name: str, controller: type | str) -> None:
    """Register a controller class (or a lazy "module:Class" path)."""
    if isinstance(controller, str):
        _LAZY[name] = controller
        _CLASSES.pop(name, None)
    else:
        _CLASSES[name] = controller


def registered_names() -> list[str]:
    return sorted(set(_LAZY) | set(_CLASSES))


def get(name: str) -> type:
    """The controller class registered under `name`."""
    if name not in _CLASSES:
        if name not in _LAZY:
            raise unknown_name("controller", name, registered_names())
        module_name, class_name = _LAZY[name].split(":")
        _CLASSES[name] = getattr(importlib.import_module(module_name), class_name)
    return _CLASSES[name]


def make_controller(name: str, **config):
    """Build controller `name` with its static `config` (checked field by
    field: unknown names and wrong types raise, naming them)."""
    cls = get(name)
    return cls(**checked_fields(cls, config, "controller_config"))
