"""The control contract: hyperparameters set while a learner trains.

A controller is a frozen, hashable dataclass of static config with three pure
functions (traced numbers live in `ctrl_params` and `ctrl_state`):

    default_params(hparams) -> ctrl_params        # e.g. a schedule's ends
    init(key, ctrl_params, hparams) -> ctrl_state # hparams: the learner's base
    act(key, ctrl_state, ctrl_params, signals) -> (hparams, ctrl_state)

`Controlled(learner, controller)` is itself a learner (same contract: it
trains, vmaps, shards, checkpoints and tunes like any learner). Its hparams
are `ControlledHParams(learner=base hparams, ctrl=ctrl_params)`, so a
population can vary both; its state is the learner's state, the controller's
state and the signals. Before every update the controller reads the signals
(the previous update's metrics, NaN-safe) and returns that update's hparams;
`control/<field>` metrics record them.

Signals. `signals[name]` is the latest finite value of every metric the
learner reports (an update in which no episode ended reports
`episode_return` NaN; the signal keeps the last finite one; 0 before any),
`signals["fresh/<name>"]` is 1 where this update's value was finite, and
`signals["update"]` is the index of the update about to run. A learner
whose state already holds measurements before its first update (EpisodicTRPO:
J_0 and the metafeatures of its first batch) exposes them as
`initial_metrics(state) -> dict` (a subset of its update metrics); they seed
the signals instead of zeros.
"""

import dataclasses
from typing import Any, Protocol

import jax
import jax.numpy as jnp
from flax import struct

from jaxmeta.learners.common.evaluate import act_init, act_step
from jaxmeta.types import Key, Metrics

# The controller's key is folded from the update's key, so the learner sees
# exactly the key it would see uncontrolled.
CONTROL_KEY = 0x5EED


class Controller(Protocol):
    def default_params(self, hparams) -> Any: ...

    def init(self, key: Key, ctrl_params, hparams) -> Any: ...

    def act(self, key: Key, ctrl_state, ctrl_params, signals: Metrics): ...


@struct.dataclass
class ControlledHParams:
    learner: Any  # the learner's base hparams (what the controller starts from)
    ctrl: Any  # the controller's params (a schedule's ends, network weights)


@struct.dataclass
class ControlledState:
    learner: Any  # the learner's state
    ctrl: Any  # the controller's state
    signals: dict  # NaN-safe metrics of the last update, see the module doc

    # The learner contract's fields, read through to the learner's state.
    @property
    def params(self):
        return self.learner.params

    @property
    def update_count(self):
        return self.learner.update_count

    @property
    def diverged(self):
        return self.learner.diverged

    @property
    def env(self):
        return self.learner.env


def empty_signals(learner, hparams, env_params) -> dict:
    """Signals before the first update: zeros shaped like the learner's
    metrics (from `jax.eval_shape`, nothing runs), update 0."""

    def one_update(key):
        state = learner.init(key, hparams, env_params)
        return learner.update(key, state, hparams, env_params)[1]

    shapes = jax.eval_shape(one_update, jax.random.key(0))
    signals = {k: jnp.zeros(s.shape, jnp.float32) for k, s in shapes.items()}
    signals.update(
        {f"fresh/{k}": jnp.zeros(s.shape, jnp.float32) for k, s in shapes.items()}
    )
    signals["update"] = jnp.zeros((), jnp.float32)
    return signals


def next_signals(signals: dict, metrics: Metrics, update_count) -> dict:
    """Fold one update's metrics (all of them, or a subset) into the
    signals: finite values replace, NaN/inf keep the previous value."""
    out = dict(signals)
    for name, value in metrics.items():
        value = jnp.asarray(value, jnp.float32)
        finite = jnp.isfinite(value)
        out[name] = jnp.where(finite, value, signals[name])
        out[f"fresh/{name}"] = finite.astype(jnp.float32)
    out["update"] = jnp.asarray(update_count, jnp.float32)
    return out


def hparam_names(hparams) -> list[str]:
    return [f.name for f in dataclasses.fields(hparams)]


@dataclasses.dataclass(frozen=True)
class Controlled:
    """`learner` with its hparams set every update by `controller`."""

    learner: Any
    controller: Any

    def __post_init__(self):
        check = getattr(self.controller, "check", None)
        if check is not None:
            check(self.learner.default_hparams())

    @property
    def env(self):
        return self.learner.env

    @property
    def steps_per_update(self) -> int:
        return self.learner.steps_per_update

    @property
    def hparam_domains(self) -> dict:
        return {}

    def default_hparams(self) -> ControlledHParams:
        base = self.learner.default_hparams()
        return ControlledHParams(base, self.controller.default_params(base))

    def init(self, key, hparams: ControlledHParams, env_params) -> ControlledState:
        """The learner's state (same key as uncontrolled), the controller's
        state and empty signals."""
        learner_state = self.learner.init(key, hparams.learner, env_params)
        key_ctrl = jax.random.fold_in(key, CONTROL_KEY)
        ctrl = self.controller.init(key_ctrl, hparams.ctrl, hparams.learner)
        signals = empty_signals(self.learner, hparams.learner, env_params)
        initial = getattr(self.learner, "initial_metrics", None)
        if initial is not None:
            signals = next_signals(signals, initial(learner_state), 0)
        return ControlledState(learner_state, ctrl, signals)

    def update(
        self, key, state: ControlledState, hparams: ControlledHParams, env_params
    ):
        """The controller's hparams, then one learner update with them.

        Returns `(state, metrics)`: the learner's metrics plus
        `control/<field>` for every hparams field.
        """
        key_ctrl = jax.random.fold_in(key, CONTROL_KEY)
        current, ctrl = self.controller.act(
            key_ctrl, state.ctrl, hparams.ctrl, state.signals
        )
        learner_state, metrics = self.learner.update(
            key, state.learner, current, env_params
        )
        signals = next_signals(state.signals, metrics, learner_state.update_count)
        metrics = dict(metrics)
        for name in hparam_names(current):
            metrics[f"control/{name}"] = jnp.asarray(
                getattr(current, name), jnp.float32
            )
        return ControlledState(learner_state, ctrl, signals), metrics

    def act(self, key, state: ControlledState, obs, deterministic: bool = False):
        return self.learner.act(key, state.learner, obs, deterministic)

    def act_init(self, state: ControlledState, obs):
        """The inner learner's policy carry (learners/common/evaluate.py)."""
        return act_init(self.learner, state.learner, obs)

    def act_step(self, key, state: ControlledState, carry, obs, deterministic=False):
        """The inner learner's policy step: `(actions, carry)`."""
        return act_step(self.learner, key, state.learner, carry, obs, deterministic)
