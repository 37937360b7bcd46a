"""Name -> searcher class, for the CLI, configs and registry-parametrised tests.

Searchers are registered lazily as ``"module:Class"`` strings so that importing
this module does not import evosax. Every registered class takes
``(space, population_size, **options)`` and follows the ask/tell contract of
`jaxmeta.search` (scores maximised).
"""

import importlib

from jaxmeta.validation import checked_fields, unknown_name

_LAZY: dict[str, str] = {
    "random": "jaxmeta.search.random_search:RandomSearch",
    "grid": "jaxmeta.search.grid_search:GridSearch",
    "evosax": "jaxmeta.search.evosax_adapter:EvosaxSearch",
    "bayes": "jaxmeta.search.bayes:BayesSearch",
    "sam-hrl-hs": "jaxmeta.search.hierarchical:HierarchicalSearch",
}
_CLASSES: dict[str, type] = {}


def register(name: str, searcher: type | str) -> None:
    """Register a searcher class (or a lazy ``"module:Class"`` path) under
    `name`; re-registering replaces it."""
    if isinstance(searcher, str):
        _LAZY[name] = searcher
        _CLASSES.pop(name, None)
    else:
        _CLASSES[name] = searcher


def registered_names() -> list[str]:
    """Every registered searcher name, sorted."""
    return sorted(set(_LAZY) | set(_CLASSES))


def get(name: str) -> type:
    """The searcher class registered under `name` (ValueError naming the
    allowed values otherwise)."""
    if name not in _CLASSES:
        if name not in _LAZY:
            raise unknown_name("searcher", name, registered_names())
        module_name, class_name = _LAZY[name].split(":")
        _CLASSES[name] = getattr(importlib.import_module(module_name), class_name)
    return _CLASSES[name]


def make(name: str, space, population_size: int, **options):
    """Build the searcher `name` over `space` with `population_size` members;
    `options` are checked against the searcher's fields first
    (`searcher_config`: unknown names and wrong types raise, naming them)."""
    cls = get(name)
    options = checked_fields(
        cls, options, "searcher_config", skip=("space", "population_size")
    )
    return cls(space, population_size, **options)
