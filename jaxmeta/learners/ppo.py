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
from jaxmeta.learners.common.minibatch import shuffled_minibatches
from jaxmeta.learners.common.on_policy import (
    OnPolicyLearner,
    OnPolicyState,
    clipped_adam,
    float32_defaults,
)

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
        self._check_ppo()

    def _check_ppo(self):
        """PPO's own fields (the rollout and networks are the base's)."""
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
        """The clipped PPO loss of a minibatch; with a "weight" entry (0 for
        padding steps) every mean is the weighted mean."""
        head = self.head
        if "weight" in batch:
            weight = batch["weight"]

            def mean(x):
                return jnp.sum(weight * x) / jnp.maximum(jnp.sum(weight), 1e-8)
        else:
            mean = jnp.mean
        out = self._actor().apply(params["actor"], batch["obs"])
        log_prob = head.log_prob(out, batch["action"])
        value = self._critic().apply(params["critic"], batch["obs"])
        adv = batch["advantage"]
        if self.normalize_advantages and "weight" in batch:
            centred = adv - mean(adv)
            adv = centred / (jnp.sqrt(mean(centred**2)) + 1e-8)
        elif self.normalize_advantages:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        ratio = jnp.exp(log_prob - batch["log_prob"])
        clipped = jnp.clip(ratio, 1.0 - hparams.clip_eps, 1.0 + hparams.clip_eps)
        policy_loss = -mean(jnp.minimum(ratio * adv, clipped * adv))
        value_loss = (value - batch["target"]) ** 2
        if self.clip_value_loss:
            v_clip = batch["value"] + jnp.clip(
                value - batch["value"], -hparams.clip_eps, hparams.clip_eps
            )
            value_loss = jnp.maximum(value_loss, (v_clip - batch["target"]) ** 2)
        value_loss = 0.5 * mean(value_loss)
        entropy = mean(head.entropy(out))
        loss = policy_loss + hparams.vf_coef * value_loss - hparams.ent_coef * entropy
        approx_kl = mean((ratio - 1.0) - jnp.log(ratio))
        return loss, (policy_loss, value_loss, entropy, approx_kl)

    def update(self, key, state: OnPolicyState, hparams: PPOHParams, env_params):
        """One rollout of `num_envs x num_steps` then `num_epochs` of minibatch SGD.

        Returns `(state, metrics)`: the scalar metrics of `_finish_update` with
        the policy and value losses, entropy and approximate KL.
        """
        key_rollout, key_epochs = jax.random.split(key)
        env, traj, stats = self._rollout(key_rollout, state, env_params, True)
        batch = self._gae_batch(state, traj, env, hparams)
        del batch["weight"]  # all ones: plain means
        params, opt_state, losses = self.step_on_batch(
            key_epochs, state, batch, hparams
        )
        return self._finish_update(state, params, opt_state, env, stats, losses)

    def step_on_batch(self, key, state, batch: dict, hparams: PPOHParams):
        """`num_epochs` of shuffled minibatch Adam steps on one batch (from
        `_gae_batch`). Returns `(params, opt_state, losses)`."""
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
            (state.params, state.opt_state),
            jax.random.split(key, self.num_epochs),
        )
        policy_loss, value_loss, entropy, approx_kl = (a.mean() for a in aux)
        losses = {
            "policy_loss": policy_loss,
            "value_loss": value_loss,
            "entropy": entropy,
            "approx_kl": approx_kl,
        }
        return new_params, opt_state, losses
