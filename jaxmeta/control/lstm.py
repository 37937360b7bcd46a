"""BiERL's controller (Wang et al. 2023, arXiv 2308.01207): an LSTM encoder
over the last `history` updates' signals and an MLP generator that outputs the
next update's hparams, e.g. the ES noise sigma = 0.02 + 0.06 sigmoid(.) as in
the authors' code. `encoder="mlp"` is the ablation without memory: an MLP over
the latest update's (rank, normalised return) pairs, mean-pooled.

Inputs per update, from the signals: a vector signal (an ES generation's
returns "es/returns" [n]) enters sorted and standardised (zero mean, unit
std over the population), as in the paper; a scalar signal (PPO's
"episode_return") enters as sign(x) log(1 + |x|). Outputs: `(field, low,
high, scale)` each, value = low + (high - low) sigmoid(o) for scale "linear",
exp(log low + (log high - log low) sigmoid(o)) for "log".

The controller's weights are its `ctrl_params`; they are meta-trained by ES
(`control.bierl.BiERL`) or loaded from a warm start.
"""

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from jaxmeta.nets.mlp import MLP
from jaxmeta.validation import unknown_name

ENCODERS = ("lstm", "mlp")
SCALES = ("linear", "log")
SIGMA_OUTPUT = ("sigma", 0.02, 0.08, "linear")  # the authors' 0.02 + 0.06 sigmoid


class _Network(nn.Module):
    encoder: str
    hidden: int
    num_outputs: int

    @nn.compact
    def __call__(self, history, mask):
        """history: [t, features]; mask: [t] (valid rows) -> [num_outputs]."""
        if self.encoder == "lstm":
            cell = nn.OptimizedLSTMCell(self.hidden, name="lstm")
            carry = cell.initialize_carry(jax.random.key(0), history[0].shape)

            def step(cell, carry, inputs):
                row, valid = inputs
                new_carry, _ = cell(carry, row)
                keep = jax.tree_util.tree_map(
                    lambda n, o: jnp.where(valid, n, o), new_carry, carry
                )
                return keep, None

            scan = nn.scan(
                step, variable_broadcast="params", split_rngs={"params": False}
            )
            carry, _ = scan(cell, carry, (history, mask))
            code = carry[1]
        else:
            # Ablation: the latest row's entries as (rank, value) pairs.
            latest = history[-1]
            ranks = jnp.linspace(-0.5, 0.5, latest.shape[0])
            pairs = jnp.stack([ranks, latest], axis=-1)
            code = MLP((self.hidden, self.hidden), None, "tanh", name="pairs")(pairs)
            code = code.mean(axis=0)
        head = MLP((self.hidden,), self.num_outputs, "tanh", 0.01, name="generator")
        return head(code)


@struct.dataclass
class ControllerState:
    base: object  # the learner's base hparams
    history: jnp.ndarray  # [history, features], newest last
    count: jnp.ndarray  # [] int32 updates seen (valid rows = min(count, t))


def features(signals: dict, inputs: tuple[str, ...]) -> jnp.ndarray:
    """One update's input row `[features]` from the signals (module doc)."""
    parts = []
    for name in inputs:
        value = jnp.asarray(signals[name], jnp.float32)
        if value.ndim == 1:
            value = jnp.sort(value)
            parts.append((value - value.mean()) / (value.std() + 1e-8))
        else:
            parts.append(jnp.sign(value)[None] * jnp.log1p(jnp.abs(value))[None])
    return jnp.concatenate(parts)


@dataclasses.dataclass(frozen=True)
class BiERLController:
    """num_features: length of a `features` row (the ES population size for
    "es/returns"); history: updates the encoder reads (10 in the paper)."""

    num_features: int
    inputs: tuple[str, ...] = ("es/returns",)
    outputs: tuple[tuple, ...] = (SIGMA_OUTPUT,)
    history: int = 10
    hidden: int = 32
    encoder: str = "lstm"

    def __post_init__(self):
        if self.encoder not in ENCODERS:
            raise unknown_name("encoder", self.encoder, ENCODERS)
        for name in ("num_features", "history", "hidden"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        outputs = tuple(tuple(o) for o in self.outputs)
        if not outputs:
            raise ValueError("outputs must name at least one hparam")
        for field, low, high, scale in outputs:
            if scale not in SCALES:
                raise unknown_name(f"scale of output {field!r}", scale, SCALES)
            if not low < high or (scale == "log" and low <= 0):
                raise ValueError(
                    f"output {field!r} needs low < high (and low > 0 on a log "
                    f"scale), got low={low!r} high={high!r}"
                )
        object.__setattr__(self, "outputs", outputs)
        object.__setattr__(self, "inputs", tuple(self.inputs))

    @property
    def network(self) -> _Network:
        return _Network(self.encoder, self.hidden, len(self.outputs))

    def check(self, hparams) -> None:
        names = [f.name for f in dataclasses.fields(hparams)]
        for field, *_ in self.outputs:
            if field not in names:
                raise unknown_name(
                    f"{type(hparams).__name__} field (output)", field, names
                )

    def default_params(self, hparams):
        """Weights initialised with key 0 (deterministic defaults)."""
        history = jnp.zeros((self.history, self.num_features))
        return self.network.init(
            jax.random.key(0), history, jnp.ones(self.history, bool)
        )

    def init(self, key, ctrl_params, hparams) -> ControllerState:
        history = jnp.zeros((self.history, self.num_features), jnp.float32)
        return ControllerState(hparams, history, jnp.int32(0))

    def values(self, ctrl_params, state: ControllerState) -> list:
        """The outputs' natural values `[]` each, from the history."""
        valid = jnp.arange(self.history) >= self.history - jnp.minimum(
            state.count, self.history
        )
        raw = self.network.apply(ctrl_params, state.history, valid)
        out = []
        for (_, low, high, scale), o in zip(self.outputs, raw, strict=True):
            s = jax.nn.sigmoid(o)
            if scale == "log":
                out.append(
                    jnp.exp(math.log(low) + (math.log(high) - math.log(low)) * s)
                )
            else:
                out.append(low + (high - low) * s)
        return out

    def act(self, key, state: ControllerState, ctrl_params, signals):
        """Push the last update's row (from update 1 on), then set the
        outputs' fields from the network."""
        seen = signals["update"] > 0
        row = features(signals, self.inputs)
        pushed = jnp.concatenate([state.history[1:], row[None]])
        state = state.replace(
            history=jnp.where(seen, pushed, state.history),
            count=state.count + seen.astype(jnp.int32),
        )
        values = self.values(ctrl_params, state)
        base = state.base
        hparams = base.replace(**{
            field: v.astype(jnp.asarray(getattr(base, field)).dtype)
            for (field, *_), v in zip(self.outputs, values, strict=True)
        })  # fmt: skip
        return hparams, state


@dataclasses.dataclass(frozen=True)
class MLPController(BiERLController):
    """BiERL's controller without memory (the ablation): an MLP over the
    latest update's (rank, normalised return) pairs."""

    encoder: str = "mlp"
