"""Name -> environment factory registry behind `jaxmeta.envs.make`.

Our own environments (and our corrected versions of gymnax ones) are registered
lazily as ``"module:function"`` strings so importing `jaxmeta.envs` stays cheap.
A factory takes keyword options and returns ``(env, env_params)``. Names not in
the registry fall through to `gymnax.make`.
"""

import importlib
from collections.abc import Callable

import gymnax

from jaxmeta.validation import unknown_name

# name -> "jaxmeta.envs.module:factory". Each env module's owner edits its lines.
_LAZY: dict[str, str] = {
    "BernoulliBandit-v0": "jaxmeta.envs.bandits:make_bernoulli_bandit",
    "RandomMDP-v0": "jaxmeta.envs.random_mdp:make_random_mdp",
}
_FACTORIES: dict[str, Callable] = {}
_INSTANCES: dict[tuple, tuple] = {}


def register(name: str, factory: Callable | str) -> None:
    """Register `factory(**options) -> (env, env_params)` (or a lazy
    ``"module:function"`` path) under `name`; re-registering replaces it."""
    if isinstance(factory, str):
        _LAZY[name] = factory
        _FACTORIES.pop(name, None)
    else:
        _FACTORIES[name] = factory
    for cached in [k for k in _INSTANCES if k[0] == name]:
        del _INSTANCES[cached]


def registered_names() -> list[str]:
    """All names `make` accepts: ours first, then gymnax's."""
    ours = sorted(set(_LAZY) | set(_FACTORIES))
    return ours + [n for n in gymnax.registered_envs if n not in ours]


def _resolve(name: str) -> Callable | None:
    if name in _FACTORIES:
        return _FACTORIES[name]
    if name in _LAZY:
        module_name, fn_name = _LAZY[name].split(":")
        _FACTORIES[name] = getattr(importlib.import_module(module_name), fn_name)
        return _FACTORIES[name]
    return None


def make(name: str, **options):
    """Build an environment by name, as `gymnax.make`.

    Env objects are pure and stateless, so one instance per (name, options) is
    cached and shared: learners holding it then compare equal and jitted
    functions keyed on them compile once. Returns ``(env, env_params)``: a
    gymnax-contract env (``reset(key, params)``, ``step(key, state, action,
    params)`` returning 6 values) and its default params pytree. Raises
    ValueError naming `name` and the allowed values.
    """
    if not isinstance(name, str):
        raise ValueError(f"env name must be a string, got {name!r}")
    try:
        cache_key = (name, tuple(sorted(options.items())))
        hash(cache_key)
    except TypeError:
        return _build(name, options)
    if cache_key not in _INSTANCES:
        _INSTANCES[cache_key] = _build(name, options)
    return _INSTANCES[cache_key]


def _build(name: str, options: dict):
    factory = _resolve(name)
    if factory is not None:
        return factory(**options)
    if name in gymnax.registered_envs:
        return gymnax.make(name, **options)
    raise unknown_name("env name", name, registered_names())
