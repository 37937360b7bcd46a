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

from jaxmeta.learners.common.gae import discounted_returns
from jaxmeta.learners.common.on_policy import (
    OnPolicyLearner,
    OnPolicyState,
    clipped_adam,
    float32_defaults,
)
from jaxmeta.learners.common.rollout import policy_input

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
class Reinforce(OnPolicyLearner):
    """Static REINFORCE config. `env` is a gymnax-contract env instance; see
    `OnPolicyLearner` for the rollout and network fields."""

    num_steps: int = 200
    baseline: str = "learned"
    normalize_advantages: bool = True

    def __post_init__(self):
        super().__post_init__()
        if self.baseline not in BASELINES:
            raise ValueError(
                f"baseline must be one of {BASELINES}, got {self.baseline!r}"
            )

    @property
    def uses_baseline(self) -> bool:
        return self.baseline == "learned"

    def default_hparams(self) -> ReinforceHParams:
        """Defaults as float32 scalars."""
        return float32_defaults(ReinforceHParams)

    def init(self, key, hparams: ReinforceHParams, env_params) -> OnPolicyState:
        """Actor (and critic with a learned baseline), optimizer state and
        `num_envs` reset envs."""
        return self._initial_state(
            key, env_params, self.uses_baseline, clipped_adam(hparams, ADAM_EPS)
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

        Returns `(state, metrics)`: the scalar metrics of `_finish_update` with
        the policy and value losses and the entropy.
        """
        params = state.params
        env, traj, stats = self._rollout(key, state, env_params, False)
        # Credit truncated episodes and the unfinished tail with the baseline.
        rewards = traj.reward + hparams.gamma * traj.truncated * self._value(
            params, traj.final_obs
        )
        last_value = self._value(params, policy_input(env, env.obs, self.normalize_obs))
        returns = discounted_returns(rewards, traj.done, last_value, hparams.gamma)
        tx = clipped_adam(hparams, ADAM_EPS)
        grads, aux = jax.grad(self._loss, has_aux=True)(params, traj, returns, hparams)
        updates, opt_state = tx.update(grads, state.opt_state, params)
        policy_loss, value_loss, entropy = aux
        losses = {
            "policy_loss": policy_loss,
            "value_loss": value_loss,
            "entropy": entropy,
        }
        params = optax.apply_updates(params, updates)
        return self._finish_update(state, params, opt_state, env, stats, losses)
