"""Feed-forward networks: an MLP torso and actor/critic heads.

Orthogonal initialisation as is standard for on-policy agents: sqrt(2) on hidden
layers, a small scale on the policy head so the first policy is near uniform, 1.0
on the value head.
"""

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "gelu": nn.gelu}


def check_activation(name: str) -> None:
    """Raise ValueError naming `activation` unless `name` is a known activation."""
    if name not in ACTIVATIONS:
        raise ValueError(
            f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}"
        )


class MLP(nn.Module):
    """Dense layers with an activation after each hidden layer.

    Input `[..., in_dim]` -> output `[..., out_dim]` (or `[..., hidden[-1]]` when
    `out_dim` is None, activation applied).
    """

    hidden: Sequence[int]
    out_dim: int | None = None
    activation: str = "tanh"
    out_scale: float = 1.0

    @nn.compact
    def __call__(self, x):
        act = ACTIVATIONS[self.activation]
        for width in self.hidden:
            x = nn.Dense(width, kernel_init=nn.initializers.orthogonal(np.sqrt(2)))(x)
            x = act(x)
        if self.out_dim is not None:
            x = nn.Dense(
                self.out_dim, kernel_init=nn.initializers.orthogonal(self.out_scale)
            )(x)
        return x


class DiscreteActor(nn.Module):
    """Policy logits. `obs: [..., obs_dim]` -> `logits: [..., num_actions]`."""

    num_actions: int
    hidden: Sequence[int] = (64, 64)
    activation: str = "tanh"

    @nn.compact
    def __call__(self, obs):
        return MLP(self.hidden, self.num_actions, self.activation, 0.01)(obs)


class GaussianActor(nn.Module):
    """Diagonal Gaussian policy with a state-independent log std.

    `obs: [..., obs_dim]` -> `(mean: [..., action_dim], log_std: [action_dim])`.
    """

    action_dim: int
    hidden: Sequence[int] = (64, 64)
    activation: str = "tanh"

    @nn.compact
    def __call__(self, obs):
        mean = MLP(self.hidden, self.action_dim, self.activation, 0.01)(obs)
        log_std = self.param("log_std", nn.initializers.zeros, (self.action_dim,))
        return mean, log_std


class Critic(nn.Module):
    """State value. `obs: [..., obs_dim]` -> `value: [...]`."""

    hidden: Sequence[int] = (64, 64)
    activation: str = "tanh"

    @nn.compact
    def __call__(self, obs):
        return jnp.squeeze(MLP(self.hidden, 1, self.activation, 1.0)(obs), -1)


class DeterministicActor(nn.Module):
    """A deterministic policy's pre-squash output (ES policies; ESAC copies a
    `SquashedGaussianActor`'s "torso" and "mean" into it, same names).

    `obs: [..., obs_dim]` -> `[..., action_dim]` (logits for discrete actions,
    an unbounded mean for continuous ones: see `squash_to_bounds`).
    """

    action_dim: int
    hidden: Sequence[int] = (64, 64)
    activation: str = "tanh"

    @nn.compact
    def __call__(self, obs):
        x = MLP(self.hidden, None, self.activation, name="torso")(obs)
        head = nn.Dense(
            self.action_dim, kernel_init=nn.initializers.orthogonal(0.01), name="mean"
        )
        return head(x)


class SquashedGaussianActor(nn.Module):
    """A Gaussian over pre-squash actions (SAC): `obs: [..., obs_dim]` ->
    `(mean, log_std)`, each `[..., action_dim]`, log_std in [log_std_min,
    log_std_max]. Submodules "torso", "mean", "log_std"."""

    action_dim: int
    hidden: Sequence[int] = (256, 256)
    activation: str = "relu"
    log_std_min: float = -5.0
    log_std_max: float = 2.0

    @nn.compact
    def __call__(self, obs):
        x = MLP(self.hidden, None, self.activation, name="torso")(obs)
        mean = nn.Dense(
            self.action_dim, kernel_init=nn.initializers.orthogonal(0.01), name="mean"
        )(x)
        raw = nn.Dense(self.action_dim, name="log_std")(x)
        span = self.log_std_max - self.log_std_min
        log_std = self.log_std_min + 0.5 * span * (jnp.tanh(raw) + 1.0)
        return mean, log_std
