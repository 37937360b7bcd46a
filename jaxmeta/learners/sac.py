"""Soft Actor-Critic (Haarnoja et al. 2018) with a learned temperature.

Each update steps `num_envs` envs for `num_steps`, writes the transitions to a
replay ring buffer, then takes `gradient_steps` SAC steps on uniform
minibatches of `batch_size`: twin soft Q critics regress to the clipped
double-Q target of their Polyak-averaged copies, the tanh-squashed Gaussian
actor minimises `alpha * log pi - min Q`, and log alpha moves the policy's
entropy toward a target. Before `learning_starts` env steps the envs get
uniform random actions and the gradient steps are computed but masked, so
shapes and loop lengths never change.

Actions: the buffer and the critics hold squashed actions `tanh(u)` in
[-1, 1]; the env gets `squash_to_bounds(u, low, high)` with the bounds of the
member's own task (the env carry). `log pi` is the density of that env action:
the Gaussian density of u less `log |d action / du|` = sum of
`log(1 - tanh(u)^2) + log((high - low) / 2)`. The target entropy is
`-target_entropy_scale * action_dim` (the heuristic of Haarnoja et al., stated
for [-1, 1] actions) plus sum `log((high - low) / 2)`, the same target in the
env's units, so the temperature does not depend on how the task scales its
bounds. Time-limit truncations bootstrap; only terminations end a target.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxmeta.learners.common.critics import (
    TwinQ,
    clipped_double_q_target,
    polyak_update,
    twin_q_step,
)
from jaxmeta.learners.common.finish import finish_update
from jaxmeta.learners.common.off_policy import (
    ReplayLearnerConfig,
    check_off_policy_config,
    replay_gradient_steps,
)
from jaxmeta.learners.common.on_policy import float32_defaults
from jaxmeta.learners.common.policy import PolicyHead, squash_to_bounds
from jaxmeta.learners.common.replay import ReplayBuffer, replay_init
from jaxmeta.learners.common.rollout import EnvCarry, init_env_carry
from jaxmeta.nets.mlp import SquashedGaussianActor
from jaxmeta.validation import POSITIVE, Domain

_LOG_2PI = float(np.log(2 * np.pi))


@struct.dataclass
class SACHParams:
    learning_rate: jax.Array = 3e-4  # actor and temperature
    critic_learning_rate: jax.Array = 3e-4
    gamma: jax.Array = 0.99
    tau: jax.Array = 0.005  # Polyak rate of the target critics
    init_alpha: jax.Array = 1.0  # temperature at init (read by `init` only)
    target_entropy_scale: jax.Array = 1.0  # target entropy -scale * action_dim


@struct.dataclass
class SACState:
    params: dict  # {"actor", "critic" (leaves [2, ...]), "log_alpha" ([])}
    target_params: dict  # Polyak average of params["critic"]
    opt_state: dict  # Adam states, keyed as params
    env: EnvCarry
    buffer: ReplayBuffer
    update_count: jax.Array  # [] int32
    diverged: jax.Array  # [] bool


def squashed_log_prob(mean, log_std, pre_squash, low, high):
    """log density `[...]` of the env action `squash_to_bounds(pre_squash, low,
    high)` when `pre_squash ~ N(mean, exp(log_std))`; mean, log_std,
    pre_squash: `[..., action_dim]`, low, high: `[action_dim]`."""
    z = (pre_squash - mean) * jnp.exp(-log_std)
    gaussian = jnp.sum(-0.5 * z**2 - log_std - 0.5 * _LOG_2PI, -1)
    # log(1 - tanh(u)^2) in a form that stays finite for large |u|.
    log_dtanh = 2.0 * (jnp.log(2.0) - pre_squash - jax.nn.softplus(-2.0 * pre_squash))
    log_scale = jnp.log(0.5 * (high - low))
    return gaussian - jnp.sum(log_dtanh + log_scale, -1)


def _sample_pre_squash(mean, log_std, noise):
    return mean + jnp.exp(log_std) * noise


@dataclasses.dataclass(frozen=True)
class SAC(ReplayLearnerConfig):
    """Static SAC config. `env`: a gymnax-contract env with a Box action space;
    `num_envs x num_steps` env steps and `gradient_steps` SAC steps per update;
    `learning_starts` env steps of random actions before gradient steps count."""

    env: object
    num_envs: int = 1
    num_steps: int = 1
    gradient_steps: int = 1
    buffer_capacity: int = 100_000
    batch_size: int = 256
    learning_starts: int = 1_000
    hidden: tuple[int, ...] = (256, 256)
    activation: str = "relu"
    # Built by check_off_policy_config, outside any trace.
    _head: PolicyHead = dataclasses.field(init=False, repr=False, compare=False)

    hparam_domains = {
        "learning_rate": POSITIVE,
        "critic_learning_rate": POSITIVE,
        "gamma": Domain(0.0, 1.0),
        "tau": Domain(0.0, 1.0, open_minimum=True),
        "init_alpha": POSITIVE,
        "target_entropy_scale": Domain(),
    }

    def __post_init__(self):
        check_off_policy_config(self, discrete=False)

    def _actor(self):
        return SquashedGaussianActor(self.head.action_dim, self.hidden, self.activation)

    def _critic(self):
        return TwinQ(self.hidden, self.activation)

    def _optimizers(self, hparams) -> dict:
        # Built from traced rates: Adam's state does not depend on them.
        return {
            "actor": optax.adam(hparams.learning_rate),
            "critic": optax.adam(hparams.critic_learning_rate),
            "log_alpha": optax.adam(hparams.learning_rate),
        }

    def default_hparams(self) -> SACHParams:
        """Defaults as float32 scalars."""
        return float32_defaults(SACHParams)

    def init(self, key, hparams: SACHParams, env_params) -> SACState:
        """Actor, twin critics and their targets, log alpha, Adam states, an
        empty buffer and `num_envs` reset envs with the bounds of
        `env_params`."""
        key_actor, key_critic, key_env = jax.random.split(key, 3)
        env = init_env_carry(key_env, self.env, env_params, self.num_envs, self.head)
        obs_dim, action_dim = env.obs.shape[-1], self.head.action_dim
        obs, action = env.obs[:1], jnp.zeros((1, action_dim))
        params = {
            "actor": self._actor().init(key_actor, obs),
            "critic": self._critic().init(key_critic, obs, action),
            "log_alpha": jnp.log(jnp.asarray(hparams.init_alpha, jnp.float32)),
        }
        opt_state = {
            name: tx.init(params[name])
            for name, tx in self._optimizers(hparams).items()
        }
        return SACState(
            params,
            params["critic"],
            opt_state,
            env,
            replay_init(self.buffer_capacity, obs_dim, action_dim),
            jnp.asarray(0, jnp.int32),
            jnp.asarray(False),
        )

    def act(self, key, state: SACState, obs, deterministic: bool = False):
        """Env actions `[N, ...]` for `obs: [N, obs_dim]`, inside the state's
        task bounds: squashed samples, or the squashed mean when
        `deterministic`."""
        mean, log_std = self._actor().apply(state.params["actor"], obs)
        pre_squash = mean
        if not deterministic:
            noise = jax.random.normal(key, mean.shape)
            pre_squash = _sample_pre_squash(mean, log_std, noise)
        action = squash_to_bounds(
            pre_squash, state.env.action_low, state.env.action_high
        )
        return action.reshape(action.shape[:-1] + self.head.env_shape)

    def _policy_fn(self, state: SACState):
        """`warmup_rollout`'s policy: squashed samples and their log density."""
        low, high = state.env.action_low, state.env.action_high

        def policy_fn(key, obs):
            mean, log_std = self._actor().apply(state.params["actor"], obs)
            noise = jax.random.normal(key, mean.shape)
            pre_squash = _sample_pre_squash(mean, log_std, noise)
            log_prob = squashed_log_prob(mean, log_std, pre_squash, low, high)
            env_action = squash_to_bounds(pre_squash, low, high)
            return jnp.tanh(pre_squash), env_action, log_prob

        return policy_fn

    def _sac_step(self, key, params, target_params, opt_state, batch, hparams, env):
        """One SAC step on `batch` (as `replay_sample`): critics, then the actor
        against the updated critics, then the temperature, then the targets.
        Returns `(params, target_params, opt_state, aux)`, aux a dict of []."""
        actor, critic, txs = self._actor(), self._critic(), self._optimizers(hparams)
        low, high = env.action_low, env.action_high
        key_next, key_new = jax.random.split(key)
        alpha = jnp.exp(params["log_alpha"])

        next_mean, next_log_std = actor.apply(params["actor"], batch["next_obs"])
        next_u = _sample_pre_squash(
            next_mean, next_log_std, jax.random.normal(key_next, next_mean.shape)
        )
        next_log_prob = squashed_log_prob(next_mean, next_log_std, next_u, low, high)
        next_q = critic.apply(target_params, batch["next_obs"], jnp.tanh(next_u))
        target = clipped_double_q_target(
            batch["reward"],
            batch["terminated"],
            next_q,
            hparams.gamma,
            -alpha * next_log_prob,
        )

        critic_params, critic_opt, critic_loss = twin_q_step(
            critic, txs["critic"], params["critic"], opt_state["critic"], batch, target
        )

        noise = jax.random.normal(key_new, next_mean.shape)

        def actor_loss_fn(actor_params):
            mean, log_std = actor.apply(actor_params, batch["obs"])
            pre_squash = _sample_pre_squash(mean, log_std, noise)
            log_prob = squashed_log_prob(mean, log_std, pre_squash, low, high)
            q = critic.apply(critic_params, batch["obs"], jnp.tanh(pre_squash))
            # minimum, not min(q, axis=0): the reduction's gradient (an equality
            # mask over its count) came out 0/0 = NaN under XLA's cheap CPU
            # pipeline (tests/conftest.py); the elementwise one is exact.
            return jnp.mean(alpha * log_prob - jnp.minimum(q[0], q[1])), log_prob

        (actor_loss, log_prob), grads = jax.value_and_grad(actor_loss_fn, has_aux=True)(
            params["actor"]
        )
        updates, actor_opt = txs["actor"].update(grads, opt_state["actor"])
        actor_params = optax.apply_updates(params["actor"], updates)

        target_entropy = -hparams.target_entropy_scale * low.shape[0] + jnp.sum(
            jnp.log(0.5 * (high - low))
        )
        # d/d log_alpha of -log_alpha * (log pi + target entropy), pi fixed.
        alpha_grad = -(jnp.mean(log_prob) + target_entropy)
        updates, alpha_opt = txs["log_alpha"].update(alpha_grad, opt_state["log_alpha"])
        new_params = {
            "actor": actor_params,
            "critic": critic_params,
            "log_alpha": optax.apply_updates(params["log_alpha"], updates),
        }
        new_opt = {"actor": actor_opt, "critic": critic_opt, "log_alpha": alpha_opt}
        new_target = polyak_update(target_params, critic_params, hparams.tau)
        aux = {
            "actor_loss": actor_loss,
            "critic_loss": critic_loss,
            "entropy": -jnp.mean(log_prob),
        }
        return new_params, new_target, new_opt, aux

    def update(self, key, state: SACState, hparams: SACHParams, env_params):
        """One rollout of `num_envs x num_steps` into the buffer, then
        `gradient_steps` SAC steps (masked until `learning_starts`).

        Returns `(state, metrics)`: the metrics of `finish_update` with
        `train/actor_loss`, `train/critic_loss` and `train/entropy` (means over
        the gradient steps) and `train/alpha` (the temperature after them).
        """

        def step_fn(key, carry, batch, _):
            return self._sac_step(key, *carry, batch, hparams, state.env)

        env, buffer, count, trained, aux, stats = replay_gradient_steps(
            key, self, state, env_params, self._policy_fn(state), step_fn
        )
        params, target_params, opt_state = trained
        losses = {name: value.mean() for name, value in aux.items()}
        losses["alpha"] = jnp.exp(params["log_alpha"])
        new_state = SACState(
            params, target_params, opt_state, env, buffer, count, state.diverged
        )
        return finish_update(state, new_state, stats, losses, self.steps_per_update)
