"""Name -> adapter class, for configs and registry-parametrised tests.

Adapters are registered lazily as "module:Class" strings, so importing this
module imports none of them; a new adapter (RL^2) is one more line.
"""

import importlib

from jaxmeta.validation import checked_fields, unknown_name

_LAZY: dict[str, str] = {
    "maml": "jaxmeta.adapt.maml:MAML",
    "fomaml": "jaxmeta.adapt.maml:FOMAML",
    "directed-maml": "jaxmeta.adapt.directed_maml:DirectedMAML",
    "directed-fomaml": "jaxmeta.adapt.directed_maml:DirectedFOMAML",
    "rl2": "jaxmeta.adapt.rl2:RL2",  # a recurrent learner, its own battery
}
_CLASSES: dict[str, type] = {}


def register(name: str, adapter: type | str) -> None:
    """Register an adapter class (or a lazy "module:Class" path)."""
    if isinstance(adapter, str):
        _LAZY[name] = adapter
        _CLASSES.pop(name, None)
    else:
        _CLASSES[name] = adapter


def registered_names() -> list[str]:
    return sorted(set(_LAZY) | set(_CLASSES))


def get(name: str) -> type:
    """The adapter class registered under `name`."""
    if name not in _CLASSES:
        if name not in _LAZY:
            raise unknown_name("adapter", name, registered_names())
        module_name, class_name = _LAZY[name].split(":")
        _CLASSES[name] = getattr(importlib.import_module(module_name), class_name)
    return _CLASSES[name]


def make_adapter(name: str, env, **config):
    """Build adapter `name` for `env` with its static `config` (checked field
    by field: unknown names and wrong types raise, naming them)."""
    cls = get(name)
    return cls(env, **checked_fields(cls, config, "adapter_config", skip=("env",)))
