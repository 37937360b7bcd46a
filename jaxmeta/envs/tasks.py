"""Task distributions: pure ``sample(key) -> env_params``.

A task is an env_params pytree. A distribution is a frozen dataclass that holds,
for each varied env_params field, a ``(low, high)`` range and draws that field
uniformly from it. To write one for a new environment:

1. subclass `TaskDistribution` with a frozen dataclass;
2. declare one ``(low, high)`` field per varied env_params field (same name) and
   list its allowed domain in the class variable ``domains``;
3. set ``base_params`` (the env's default params) in ``default_base_params``;
4. override ``derive`` if some env_params fields follow from the drawn ones.

Ranges are checked in plain Python at construction: a bad range raises a
ValueError naming the field and its allowed values, before anything compiles.
``sample`` is pure, so ``jax.vmap(dist.sample)(keys)`` gives a batch of tasks
whose every leaf has a leading axis ``[num_tasks, ...]``.
"""

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from jaxmeta.validation import NONNEGATIVE, POSITIVE, Domain  # noqa: F401


def check_range(name: str, value: Any, domain: Domain) -> tuple[float, float]:
    """Validate a ``(low, high)`` range in plain Python; return it as floats.

    Raises ValueError naming `name` and the allowed values.
    """
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a (low, high) pair of numbers, got {value!r}"
        ) from None
    for end in (low, high):
        if not (math.isfinite(end) and domain.contains(end)):
            raise ValueError(
                f"{name} must lie in {domain.describe()}, got ({low}, {high})"
            )
    if low > high:
        raise ValueError(f"{name} needs low <= high, got ({low}, {high})")
    return low, high


@dataclass(frozen=True)
class TaskDistribution:
    """Base: uniform draws of the declared range fields into ``base_params``.

    Subclasses declare range fields and ``domains: ClassVar[dict[str, Domain]]``;
    ``shapes`` gives a field's draw shape (default scalar ``()``).
    """

    domains: ClassVar[dict[str, Domain]] = {}
    shapes: ClassVar[dict[str, tuple[int, ...]]] = {}

    def __post_init__(self):
        for name, domain in self.domains.items():
            object.__setattr__(
                self, name, check_range(name, getattr(self, name), domain)
            )
        if getattr(self, "base_params", None) is None:
            object.__setattr__(self, "base_params", self.default_base_params())

    def default_base_params(self) -> Any:
        """The env_params the drawn fields are written into."""
        raise NotImplementedError

    def derive(self, env_params: Any) -> Any:
        """Recompute fields that follow from the drawn ones (default: none)."""
        return env_params

    def sample(self, key: jax.Array) -> Any:
        """Draw one task.

        Args:
            key: a jax.random key.
        Returns:
            env_params with every range field replaced by a float32 draw of shape
            ``shapes.get(field, ())``; vmapping over keys stacks a leading axis.
        """
        names = list(self.domains)
        keys = jax.random.split(key, len(names))
        drawn = {}
        for key_field, name in zip(keys, names, strict=True):
            low, high = getattr(self, name)
            drawn[name] = jax.random.uniform(
                key_field, self.shapes.get(name, ()), jnp.float32, low, high
            )
        return self.derive(self.base_params.replace(**drawn))


def _cartpole_params():
    from gymnax.environments.classic_control.cartpole import EnvParams

    return EnvParams()


@dataclass(frozen=True)
class CartPoleTasks(TaskDistribution):
    """CartPole-v1 tasks over pole mass, pole half-length and cart mass.

    ``total_mass = masscart + masspole`` and ``polemass_length = masspole *
    length`` are recomputed from each draw. ``base_params`` may be any env_params
    with these fields (e.g. `CartPoleContinuous`'s).
    """

    masspole: tuple[float, float] = (0.05, 0.5)
    length: tuple[float, float] = (0.25, 1.0)
    masscart: tuple[float, float] = (0.5, 2.0)
    base_params: Any = None

    domains: ClassVar[dict[str, Domain]] = {
        "masspole": POSITIVE,
        "length": POSITIVE,
        "masscart": POSITIVE,
    }

    def default_base_params(self):
        return _cartpole_params()

    def derive(self, env_params):
        return env_params.replace(
            total_mass=env_params.masscart + env_params.masspole,
            polemass_length=env_params.masspole * env_params.length,
        )


@dataclass(frozen=True)
class PendulumTasks(TaskDistribution):
    """Pendulum-v1 tasks over mass ``m``, length ``l``, gravity ``g`` and
    ``max_torque``; a range with low == high keeps that field fixed."""

    m: tuple[float, float] = (0.5, 2.0)
    l: tuple[float, float] = (0.5, 2.0)  # noqa: E741 (gymnax's field name)
    g: tuple[float, float] = (10.0, 10.0)
    max_torque: tuple[float, float] = (2.0, 2.0)
    base_params: Any = None

    domains: ClassVar[dict[str, Domain]] = {
        "m": POSITIVE,
        "l": POSITIVE,
        "g": NONNEGATIVE,
        "max_torque": POSITIVE,
    }

    def default_base_params(self):
        from gymnax.environments.classic_control.pendulum import EnvParams

        return EnvParams()


@dataclass(frozen=True)
class MountainCarTasks(TaskDistribution):
    """MountainCar-v0 tasks over the engine ``force`` and ``gravity``
    (gymnax's defaults 0.001 and 0.0025). A stronger engine relative to
    gravity reaches the flag in fewer swings; below force/gravity of about
    0.33 (the default 0.4) the car needs more swings than 200 steps allow."""

    force: tuple[float, float] = (0.0008, 0.0016)
    gravity: tuple[float, float] = (0.002, 0.003)
    base_params: Any = None

    domains: ClassVar[dict[str, Domain]] = {"force": POSITIVE, "gravity": POSITIVE}

    def default_base_params(self):
        from gymnax.environments.classic_control.mountain_car import EnvParams

        return EnvParams()


@dataclass(frozen=True)
class LunarLanderTasks(TaskDistribution):
    """LunarLander-v3 (and its continuous version) tasks over ``gravity``
    (Gymnasium allows (-12, 0); default -10), ``wind_power`` (0-20, default
    15) and ``turbulence_power`` (0-2, default 1.5). Wind and turbulence act
    only where ``base_params.enable_wind`` is on (the v3 default is off, so
    its tasks vary gravity alone; ``make("LunarLander-v3", enable_wind=True)``
    gives windy tasks). The ranges are our choice: the Directed-MAML paper's
    text we could read does not say what its LunarLander tasks vary."""

    gravity: tuple[float, float] = (-11.0, -9.0)
    wind_power: tuple[float, float] = (0.0, 15.0)
    turbulence_power: tuple[float, float] = (0.0, 1.5)
    base_params: Any = None

    domains: ClassVar[dict[str, Domain]] = {
        "gravity": Domain(-12.0, 0.0, open_minimum=True, open_maximum=True),
        "wind_power": Domain(0.0, 20.0),
        "turbulence_power": Domain(0.0, 2.0),
    }

    def default_base_params(self):
        from jaxmeta.envs.lunar_lander import LunarLanderParams

        return LunarLanderParams()


# env name -> the task distribution of `jaxmeta.envs.make(name)`'s params
# ("module:Class", imported when asked for: some modules import this one).
TASK_DISTRIBUTIONS = {
    "CartPole-v1": "jaxmeta.envs.tasks:CartPoleTasks",
    "CartPoleContinuous-v1": "jaxmeta.envs.tasks:CartPoleTasks",
    "Pendulum-v1": "jaxmeta.envs.tasks:PendulumTasks",
    "MountainCar-v0": "jaxmeta.envs.tasks:MountainCarTasks",
    "LunarLander-v3": "jaxmeta.envs.tasks:LunarLanderTasks",
    "LunarLanderContinuous-v3": "jaxmeta.envs.tasks:LunarLanderTasks",
    "Navigation2D-v0": "jaxmeta.envs.navigation2d:Navigation2DTasks",
    "Minigolf-v0": "jaxmeta.envs.minigolf:MinigolfTasks",
    "Elikoeidis-v0": "jaxmeta.envs.elikoeidis:ElikoeidisTasks",
}


def task_distribution(env_name: str, base_params: Any = None, **ranges):
    """The task distribution of env `env_name` (see `TASK_DISTRIBUTIONS`)
    with `ranges` (field -> (low, high)) over its defaults, drawn into
    `base_params` (default: the env's default params). ValueError naming
    the env and the envs that have one when it has none."""
    import importlib

    from jaxmeta.validation import unknown_name

    if env_name not in TASK_DISTRIBUTIONS:
        raise unknown_name(
            "env with a task distribution", env_name, sorted(TASK_DISTRIBUTIONS)
        )
    module, name = TASK_DISTRIBUTIONS[env_name].split(":")
    cls = getattr(importlib.import_module(module), name)
    if base_params is not None:
        ranges["base_params"] = base_params
    try:
        return cls(**ranges)
    except TypeError:
        fields = sorted(cls.domains)
        raise ValueError(
            f"{env_name}'s task distribution has ranges {fields}, got "
            f"{sorted(k for k in ranges if k != 'base_params')}"
        ) from None
