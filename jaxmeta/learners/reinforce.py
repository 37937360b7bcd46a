"""REINFORCE (Williams 1992) with an optional learned state-value baseline.

Each update collects `num_steps` from `num_envs` auto-resetting envs and ascends
sum_t log pi(a_t|s_t) * (G_t - b(s_t)), G_t the discounted return-to-go within
the episode. Episodes still running at the end of the rollout are bootstrapped
with the baseline's value (zero without a baseline), so the rollout length does
not need to cover whole episodes. With `baseline="learned"` a critic is fitted
by squared error to G_t in the same gradient step (weighted by `vf_coef`).
"""

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxmeta.learners.base import check_positive_ints, keep_if_finite
from jaxmeta.learners.common.gae import discounted_returns
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

BASELINES = ("none", "learned")


ADAM_EPS = 1e-8  # optax's default


@struct.dataclass
class ReinforceHParams:
    learning_rate: jax.Array = 1e-3
    gamma: jax.Array = 0.99
    ent_coef: jax.Array = 0.0
    vf_coef: jax.Array = 0.5
    max_grad_norm: jax.Array = 1.0


@dataclasses.dataclass(frozen=True)
class Reinforce:
    """Static REINFORCE config. `env` is a gymnax-contract env instance."""

    env: object
    num_envs: int = 8
    num_steps: int = 200
    hidden: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    baseline: str = "learned"
    normalize_obs: bool = False
    normalize_advantages: bool = True

    def __post_init__(self):
        check_positive_ints(num_envs=self.num_envs, num_steps=self.num_steps)
        if self.baseline not in BASELINES:
            raise ValueError(
                f"baseline must be one of {BASELINES}, got {self.baseline!r}"
            )
        hidden = checked_hidden(self.hidden, self.activation)
        object.__setattr__(self, "hidden", hidden)

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def head(self) -> PolicyHead:
        return policy_head_for(self.env, self.env.default_params)

    @property
    def uses_baseline(self) -> bool:
        return self.baseline == "learned"

    def _actor(self):
        return self.head.actor(self.hidden, self.activation)

    def _critic(self):
        return Critic(self.hidden, self.activation)

    def default_hparams(self) -> ReinforceHParams:
        """Defaults as float32 scalars."""
        return float32_defaults(ReinforceHParams)

    def init(self, key, hparams: ReinforceHParams, env_params) -> OnPolicyState:
        """Networks, optimizer state and `num_envs` reset envs."""
        key_actor, key_critic, key_env = jax.random.split(key, 3)
        env = init_env_carry(key_env, self.env, env_params, self.num_envs)
        params = {"actor": self._actor().init(key_actor, env.obs[:1])}
        if self.uses_baseline:
            params["critic"] = self._critic().init(key_critic, env.obs[:1])
        opt_state = clipped_adam(hparams, ADAM_EPS).init(params)
        return initial_state(params, opt_state, env)

    def act(self, key, state: OnPolicyState, obs):
        """Sample env actions for raw `obs: [N, obs_dim]`."""
        return sample_env_action(
            key, self.head, self._actor(), state, obs, self.normalize_obs
        )

    def _value(self, params, obs):
        if not self.uses_baseline:
            return jnp.zeros(obs.shape[:-1])
        return self._critic().apply(params["critic"], obs)

    def _loss(self, params, traj, returns, hparams):
        out = self._actor().apply(params["actor"], traj.obs)
        log_prob = self.head.log_prob(out, traj.action)
        value = self._value(params, traj.obs)
        advantage = returns - jax.lax.stop_gradient(value)
        if self.normalize_advantages:
            advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
        policy_loss = -(log_prob * advantage).mean()
        value_loss = 0.5 * ((value - returns) ** 2).mean()
        entropy = self.head.entropy(out).mean()
        loss = policy_loss - hparams.ent_coef * entropy
        if self.uses_baseline:
            loss = loss + hparams.vf_coef * value_loss
        return loss, (policy_loss, value_loss, entropy)

    def update(self, key, state: OnPolicyState, hparams: ReinforceHParams, env_params):
        """One rollout then one gradient step on the whole batch.

        Returns `(state, metrics)`: `episode_return`, `episodes`, `env_steps`
        (cumulative) and `train/*` losses, all scalars.
        """
        actor, head, params = self._actor(), self.head, state.params

        def policy_fn(key, obs):
            action, log_prob = head.sample(key, actor.apply(params["actor"], obs))
            return action, head.to_env(action), log_prob, jnp.zeros(obs.shape[0])

        env, traj, stats = collect_rollout(
            key,
            self.env,
            env_params,
            state.env,
            self.num_steps,
            policy_fn,
            self.normalize_obs,
        )
        # Credit truncated episodes and the unfinished tail with the baseline.
        rewards = traj.reward + hparams.gamma * traj.truncated * self._value(
            params, traj.final_obs
        )
        last_value = self._value(params, policy_input(env, env.obs, self.normalize_obs))
        returns = discounted_returns(rewards, traj.done, last_value, hparams.gamma)
        tx = clipped_adam(hparams, ADAM_EPS)
        grads, aux = jax.grad(self._loss, has_aux=True)(params, traj, returns, hparams)
        updates, opt_state = tx.update(grads, state.opt_state, params)
        count = state.update_count + 1
        new_state = OnPolicyState(
            optax.apply_updates(params, updates), opt_state, env, count, state.diverged
        )
        new_state = keep_if_finite(state, new_state, lambda s: s.params)
        policy_loss, value_loss, entropy = aux
        metrics = {
            "episode_return": stats["episode_return"],
            "episodes": stats["episodes"],
            "env_steps": count.astype(jnp.float32) * self.steps_per_update,
            "train/episode_length": stats["episode_length"],
            "train/policy_loss": policy_loss,
            "train/value_loss": value_loss,
            "train/entropy": entropy,
            "train/diverged": new_state.diverged.astype(jnp.float32),
        }
        return new_state, metrics
