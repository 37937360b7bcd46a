"""Twin Q critics and their targets, shared by the off-policy actor-critics
(SAC, TD3).

`TwinQ` evaluates two independently initialised Q networks in one batched
pass (its parameters carry a leading axis of 2); the target critics are a
Polyak average of the online ones (`polyak_update`); the regression target
takes the smaller of the two target values (`clipped_double_q_target`,
Fujimoto et al. 2018), which SAC also uses with its entropy bonus; one
optimizer step of the critics on that target is `twin_q_step`.
"""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxmeta.nets.mlp import MLP


class QNetwork(nn.Module):
    """`(obs [..., obs_dim], action [..., action_dim]) -> Q [...]`."""

    hidden: Sequence[int] = (256, 256)
    activation: str = "relu"

    @nn.compact
    def __call__(self, obs, action):
        x = jnp.concatenate([obs, action], axis=-1)
        return jnp.squeeze(MLP(self.hidden, 1, self.activation, 1.0)(x), -1)


class TwinQ(nn.Module):
    """`num_critics` Q networks with their own weights: `(obs [..., obs_dim],
    action [..., action_dim]) -> Q [num_critics, ...]`. Parameter leaves are
    stacked `[num_critics, ...]` under "q"."""

    hidden: Sequence[int] = (256, 256)
    activation: str = "relu"
    num_critics: int = 2

    @nn.compact
    def __call__(self, obs, action):
        ensemble = nn.vmap(
            QNetwork,
            variable_axes={"params": 0},
            split_rngs={"params": True},
            in_axes=None,
            out_axes=0,
            axis_size=self.num_critics,
        )
        return ensemble(tuple(self.hidden), self.activation, name="q")(obs, action)


def polyak_update(target_params, online_params, tau):
    """`(1 - tau) * target + tau * online` leaf by leaf; tau in [0, 1] (traced).
    In this form tau = 1 copies the online params exactly (a hard update) and
    tau = 0 keeps the target exactly."""
    return jax.tree_util.tree_map(
        lambda t, o: (1.0 - tau) * t + tau * o, target_params, online_params
    )


def clipped_double_q_target(reward, terminated, next_q, gamma, next_bonus=0.0):
    """The TD target `r + gamma * (1 - terminated) * (min_i Q_i' + bonus)`,
    gradients stopped.

    reward, terminated: [B]; next_q: [num_critics, B], the target critics at the
    next observation and next action; next_bonus: [B] or scalar, added to the
    minimum before discounting (SAC: `-alpha * log pi(next action)`; TD3: 0).
    Returns [B].
    """
    soft_next = jnp.min(next_q, axis=0) + next_bonus
    not_done = 1.0 - terminated.astype(reward.dtype)
    return jax.lax.stop_gradient(reward + gamma * not_done * soft_next)


def twin_q_loss(q, target):
    """Half the squared TD error, averaged over the batch and summed over the
    critics: q [num_critics, B], target [B] -> []."""
    return 0.5 * jnp.sum(jnp.mean((q - target) ** 2, axis=-1))


def twin_q_step(critic: TwinQ, tx, critic_params, opt_state, batch: dict, target):
    """One `tx` step of the critics on `twin_q_loss` of `batch` (obs `[B,
    obs_dim]`, action `[B, action_dim]`, as `replay_sample`) against `target`
    `[B]`. Returns `(critic_params, opt_state, loss [])`."""

    def loss_fn(critic_params):
        q = critic.apply(critic_params, batch["obs"], batch["action"])
        return twin_q_loss(q, target)

    loss, grads = jax.value_and_grad(loss_fn)(critic_params)
    updates, opt_state = tx.update(grads, opt_state)
    return optax.apply_updates(critic_params, updates), opt_state, loss
