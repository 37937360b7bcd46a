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

from jaxmeta.learners.base import check_positive_ints, keep_if_finite
from jaxmeta.learners.common.gae import gae_advantages
from jaxmeta.learners.common.minibatch import shuffled_minibatches
from jaxmeta.learners.common.on_policy import (
    OnPolicyState,
    checked_hidden,
    clipped_adam,
    float32_defaults,
    initial_state,
    sample_env_action,
)
from jaxmeta.learners.common.policy import PolicyHead, policy_head_for
from jaxmeta.learners.common.rollout import (
    collect_rollout,
    init_env_carry,
    policy_input,
)
from jaxmeta.nets.mlp import Critic

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
class PPO:
    """Static PPO config. `env` is a gymnax-contract env instance."""

    env: object
    num_envs: int = 8
    num_steps: int = 128
    num_epochs: int = 4
    num_minibatches: int = 4
    hidden: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    normalize_obs: bool = False
    normalize_advantages: bool = True
    clip_value_loss: bool = True
    # Credit truncated (time-limit) episodes with V(final obs): one more critic
    # pass over the rollout. Off reproduces implementations that treat a
    # truncation as a termination (rejax, purejaxrl).
    bootstrap_truncation: bool = True

    def __post_init__(self):
        check_positive_ints(
            num_envs=self.num_envs,
            num_steps=self.num_steps,
            num_epochs=self.num_epochs,
            num_minibatches=self.num_minibatches,
        )
        if self.batch_size % self.num_minibatches:
            raise ValueError(
                f"num_minibatches ({self.num_minibatches}) must divide "
                f"num_envs * num_steps ({self.batch_size})"
            )
        hidden = checked_hidden(self.hidden, self.activation)
        object.__setattr__(self, "hidden", hidden)

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def steps_per_update(self) -> int:
        return self.batch_size

    @property
    def head(self) -> PolicyHead:
        return policy_head_for(self.env, self.env.default_params)

    def _actor(self):
        return self.head.actor(self.hidden, self.activation)

    def _critic(self):
        return Critic(self.hidden, self.activation)

    def default_hparams(self) -> PPOHParams:
        """Defaults as float32 scalars."""
        return float32_defaults(PPOHParams)

    def init(self, key, hparams: PPOHParams, env_params) -> OnPolicyState:
        """Networks, optimizer state and `num_envs` reset envs."""
        key_actor, key_critic, key_env = jax.random.split(key, 3)
        env = init_env_carry(key_env, self.env, env_params, self.num_envs)
        obs = env.obs[:1]
        params = {
            "actor": self._actor().init(key_actor, obs),
            "critic": self._critic().init(key_critic, obs),
        }
        opt_state = clipped_adam(hparams, ADAM_EPS).init(params)
        return initial_state(params, opt_state, env)

    def act(self, key, state: OnPolicyState, obs):
        """Sample env actions for raw `obs: [N, obs_dim]`."""
        return sample_env_action(
            key, self.head, self._actor(), state, obs, self.normalize_obs
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

        Returns `(state, metrics)` with scalar metrics `episode_return`,
        `episodes`, `env_steps` (cumulative) and `train/*` losses.
        """
        key_rollout, key_epochs = jax.random.split(key)
        actor, critic, head = self._actor(), self._critic(), self.head
        params = state.params

        def policy_fn(key, obs):
            out = actor.apply(params["actor"], obs)
            action, log_prob = head.sample(key, out)
            value = critic.apply(params["critic"], obs)
            return action, head.to_env(action), log_prob, value

        env, traj, stats = collect_rollout(
            key_rollout,
            self.env,
            env_params,
            state.env,
            self.num_steps,
            policy_fn,
            self.normalize_obs,
        )
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
        count = state.update_count + 1
        new_state = OnPolicyState(new_params, opt_state, env, count, state.diverged)
        new_state = keep_if_finite(state, new_state, lambda s: s.params)
        policy_loss, value_loss, entropy, approx_kl = (a.mean() for a in aux)
        metrics = {
            "episode_return": stats["episode_return"],
            "episodes": stats["episodes"],
            "env_steps": count.astype(jnp.float32) * self.batch_size,
            "train/episode_length": stats["episode_length"],
            "train/policy_loss": policy_loss,
            "train/value_loss": value_loss,
            "train/entropy": entropy,
            "train/approx_kl": approx_kl,
            "train/diverged": new_state.diverged.astype(jnp.float32),
        }
        return new_state, metrics
