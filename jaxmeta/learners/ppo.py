"""Proximal Policy Optimization (Schulman et al. 2017), clipped surrogate.

GAE(λ) advantages, clipped policy and value losses, entropy bonus, shuffled
minibatches over several epochs, global-norm gradient clipping, optional running
observation normalisation; discrete (categorical) and continuous (diagonal
Gaussian) actions. Truncated episodes bootstrap from the value of the final
observation (`bootstrap_truncation`). Separate actor and critic MLPs, one Adam
over both.
"""

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxmeta.learners.base import check_positive_ints
from jaxmeta.learners.common.gae import gae_advantages
from jaxmeta.learners.common.minibatch import shuffled_minibatches
from jaxmeta.learners.common.on_policy import (
    OnPolicyLearner,
    OnPolicyState,
    clipped_adam,
    float32_defaults,
)
from jaxmeta.learners.common.rollout import policy_input

ADAM_EPS = 1e-5  # as in the PPO reference implementations


@struct.dataclass
class PPOHParams:
    learning_rate: jax.Array = 2.5e-4
    gamma: jax.Array = 0.99
    gae_lambda: jax.Array = 0.95
    clip_eps: jax.Array = 0.2
    ent_coef: jax.Array = 0.01
    vf_coef: jax.Array = 0.5
    max_grad_norm: jax.Array = 0.5


@dataclasses.dataclass(frozen=True)
class PPO(OnPolicyLearner):
    """Static PPO config. `env` is a gymnax-contract env instance; see
    `OnPolicyLearner` for the rollout and network fields."""

    num_epochs: int = 4
    num_minibatches: int = 4
    normalize_advantages: bool = True
    clip_value_loss: bool = True
    # Credit truncated (time-limit) episodes with V(final obs): one more critic
    # pass over the rollout. Off reproduces implementations that treat a
    # truncation as a termination (rejax, purejaxrl).
    bootstrap_truncation: bool = True

    def __post_init__(self):
        super().__post_init__()
        check_positive_ints(
            num_epochs=self.num_epochs, num_minibatches=self.num_minibatches
        )
        if self.batch_size % self.num_minibatches:
            raise ValueError(
                f"num_minibatches ({self.num_minibatches}) must divide "
                f"num_envs * num_steps ({self.batch_size})"
            )

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    def default_hparams(self) -> PPOHParams:
        """Defaults as float32 scalars."""
        return float32_defaults(PPOHParams)

    def init(self, key, hparams: PPOHParams, env_params) -> OnPolicyState:
        """Actor, critic, optimizer state and `num_envs` reset envs."""
        return self._initial_state(
            key, env_params, True, clipped_adam(hparams, ADAM_EPS)
        )

    def _loss(self, params, batch, hparams):
        head = self.head
        out = self._actor().apply(params["actor"], batch["obs"])
        log_prob = head.log_prob(out, batch["action"])
        value = self._critic().apply(params["critic"], batch["obs"])
        adv = batch["advantage"]
        if self.normalize_advantages:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        ratio = jnp.exp(log_prob - batch["log_prob"])
        clipped = jnp.clip(ratio, 1.0 - hparams.clip_eps, 1.0 + hparams.clip_eps)
        policy_loss = -jnp.minimum(ratio * adv, clipped * adv).mean()
        value_loss = (value - batch["target"]) ** 2
        if self.clip_value_loss:
            v_clip = batch["value"] + jnp.clip(
                value - batch["value"], -hparams.clip_eps, hparams.clip_eps
            )
            value_loss = jnp.maximum(value_loss, (v_clip - batch["target"]) ** 2)
        value_loss = 0.5 * value_loss.mean()
        entropy = head.entropy(out).mean()
        loss = policy_loss + hparams.vf_coef * value_loss - hparams.ent_coef * entropy
        approx_kl = ((ratio - 1.0) - jnp.log(ratio)).mean()
        return loss, (policy_loss, value_loss, entropy, approx_kl)

    def update(self, key, state: OnPolicyState, hparams: PPOHParams, env_params):
        """One rollout of `num_envs x num_steps` then `num_epochs` of minibatch SGD.

        Returns `(state, metrics)`: the scalar metrics of `_finish_update` with
        the policy and value losses, entropy and approximate KL.
        """
        key_rollout, key_epochs = jax.random.split(key)
        critic, params = self._critic(), state.params
        env, traj, stats = self._rollout(key_rollout, state, env_params, True)
        last_value = critic.apply(
            params["critic"], policy_input(env, env.obs, self.normalize_obs)
        )
        rewards = traj.reward
        if self.bootstrap_truncation:
            final_value = critic.apply(params["critic"], traj.final_obs)
            rewards = rewards + hparams.gamma * final_value * traj.truncated
        advantage, target = gae_advantages(
            rewards,
            traj.value,
            traj.done,
            last_value,
            hparams.gamma,
            hparams.gae_lambda,
        )
        flat = lambda x: x.reshape((self.batch_size,) + x.shape[2:])  # noqa: E731
        batch = {
            "obs": flat(traj.obs),
            "action": flat(traj.action),
            "log_prob": flat(traj.log_prob),
            "value": flat(traj.value),
            "advantage": flat(advantage),
            "target": flat(target),
        }
        tx = clipped_adam(hparams, ADAM_EPS)
        grad_fn = jax.value_and_grad(self._loss, has_aux=True)

        def minibatch_step(carry, minibatch):
            params, opt_state = carry
            (_, aux), grads = grad_fn(params, minibatch, hparams)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), aux

        def epoch(carry, key):
            shuffled = shuffled_minibatches(key, batch, self.num_minibatches)
            return jax.lax.scan(minibatch_step, carry, shuffled)

        (new_params, opt_state), aux = jax.lax.scan(
            epoch,
            (params, state.opt_state),
            jax.random.split(key_epochs, self.num_epochs),
        )
        policy_loss, value_loss, entropy, approx_kl = (a.mean() for a in aux)
        losses = {
            "policy_loss": policy_loss,
            "value_loss": value_loss,
            "entropy": entropy,
            "approx_kl": approx_kl,
        }
        return self._finish_update(state, new_params, opt_state, env, stats, losses)
