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
