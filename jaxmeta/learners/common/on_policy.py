"""Scaffolding shared by the on-policy learners (PPO, REINFORCE, TRPO).

`OnPolicyLearner` holds the static config they all have (env, rollout shape,
networks, observation normalisation) and the steps around each algorithm's own
gradient step: building the actor and critic, initial state, acting, the
rollout, and finishing an update (divergence guard and the metrics every update
reports). A learner subclasses it, adds its own static fields and writes
`default_hparams` and `update`.
"""

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxmeta.learners.base import check_positive_ints
from jaxmeta.learners.common.finish import finish_update
from jaxmeta.learners.common.gae import gae_advantages
from jaxmeta.learners.common.policy import PolicyHead, policy_head_for
from jaxmeta.learners.common.rollout import (
    EnvCarry,
    collect_rollout,
    init_env_carry,
    policy_input,
)
from jaxmeta.nets.mlp import Critic, check_activation

MAX_HIDDEN_LAYERS = 3  # of the policies of seeds/002 (TRPO, episodic PPO)


@struct.dataclass
class OnPolicyState:
    params: dict  # {"actor": ...} and, with a critic, "critic"
    opt_state: optax.OptState
    env: EnvCarry
    update_count: jax.Array  # [] int32
    diverged: jax.Array  # [] bool


def clipped_adam(hparams, eps: float) -> optax.GradientTransformation:
    """Global-norm clipping at hparams.max_grad_norm, then Adam at
    hparams.learning_rate. Built from traced hparams inside init/update: Adam's
    state does not depend on the rate, so a population of rates traces once."""
    return optax.chain(
        optax.clip_by_global_norm(hparams.max_grad_norm),
        optax.adam(hparams.learning_rate, eps=eps),
    )


def checked_hidden(hidden, activation: str) -> tuple[int, ...]:
    """Validate the network config; returns `hidden` as a tuple of ints."""
    if not hidden or any(int(h) <= 0 for h in hidden):
        raise ValueError(f"hidden must be positive layer widths, got {hidden}")
    check_activation(activation)
    return tuple(int(h) for h in hidden)


def check_linear_or_mlp(hidden) -> tuple[int, ...]:
    """At most `MAX_HIDDEN_LAYERS` positive widths; () is a linear policy."""
    widths = tuple(int(h) for h in hidden)
    if len(widths) > MAX_HIDDEN_LAYERS or any(h <= 0 for h in widths):
        raise ValueError(
            f"hidden must be at most {MAX_HIDDEN_LAYERS} positive layer widths "
            f"(() is a linear policy), got {hidden!r}"
        )
    return widths


def float32_defaults(hparams_cls):
    """The defaults of a hparams struct as float32 scalars."""
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float32), hparams_cls())


@dataclasses.dataclass(frozen=True)
class OnPolicyLearner:
    """Static config common to on-policy learners. `env` is a gymnax-contract
    env instance; `num_envs x num_steps` env steps are collected per update."""

    env: object
    num_envs: int = 8
    num_steps: int = 128
    hidden: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    normalize_obs: bool = False

    def __post_init__(self):
        check_positive_ints(num_envs=self.num_envs, num_steps=self.num_steps)
        hidden = checked_hidden(self.hidden, self.activation)
        object.__setattr__(self, "hidden", hidden)

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def head(self) -> PolicyHead:
        return policy_head_for(self.env, self.env.default_params)

    def _actor(self):
        return self.head.actor(self.hidden, self.activation)

    def _critic(self):
        return Critic(self.hidden, self.activation)

    def _initial_state(self, key, env_params, with_critic: bool, optimizer):
        """Networks (`params["actor"]`, and `["critic"]` if `with_critic`), the
        optimizer's state and `num_envs` reset envs; no updates done."""
        key_actor, key_critic, key_env = jax.random.split(key, 3)
        env = init_env_carry(key_env, self.env, env_params, self.num_envs, self.head)
        obs = env.obs[:1]
        params = {"actor": self._actor().init(key_actor, obs)}
        if with_critic:
            params["critic"] = self._critic().init(key_critic, obs)
        return OnPolicyState(
            params,
            optimizer.init(params),
            env,
            jnp.asarray(0, jnp.int32),
            jnp.asarray(False),
        )

    def act(self, key, state: OnPolicyState, obs, deterministic: bool = False):
        """Env actions `[N, ...]` for raw `obs: [N, obs_dim]`: sampled, or the
        distribution's mode when `deterministic`; clipped to the state's task
        bounds for continuous actions."""
        head = self.head
        obs_in = policy_input(state.env, obs, self.normalize_obs)
        out = self._actor().apply(state.params["actor"], obs_in)
        action = head.mode(out) if deterministic else head.sample(key, out)[0]
        return head.to_env(action, state.env.action_low, state.env.action_high)

    def _rollout(self, key, state: OnPolicyState, env_params, with_value: bool):
        """Collect `num_steps` from every env with the current actor (and
        critic values when `with_value`; zeros otherwise).

        Returns `(env_carry, trajectory, stats)` as `collect_rollout`.
        """
        actor, critic, head = self._actor(), self._critic(), self.head
        params, carry = state.params, state.env

        def policy_fn(key, obs):
            action, log_prob = head.sample(key, actor.apply(params["actor"], obs))
            env_action = head.to_env(action, carry.action_low, carry.action_high)
            if with_value:
                value = critic.apply(params["critic"], obs)
            else:
                value = jnp.zeros(obs.shape[0])
            return action, env_action, log_prob, value

        return collect_rollout(
            key,
            self.env,
            env_params,
            carry,
            self.num_steps,
            policy_fn,
            self.normalize_obs,
        )

    def _gae_batch(self, state, traj, env, hparams, valid=None) -> dict:
        """The flattened update batch of a rollout [T, N]: obs, action,
        log_prob, value, advantage (GAE, not normalised), target and weight,
        each [T*N, ...] (valid: [T, N], 1 where a step counts, 0 for padding;
        all ones by default). Truncated episodes bootstrap from V(final obs)
        when the learner's `bootstrap_truncation` is set."""
        critic, params = self._critic(), state.params
        last_value = critic.apply(
            params["critic"], policy_input(env, env.obs, self.normalize_obs)
        )
        rewards = traj.reward
        if getattr(self, "bootstrap_truncation", False):
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
        weight = (
            jnp.ones_like(rewards) if valid is None else valid.astype(rewards.dtype)
        )
        flat = lambda x: x.reshape((-1,) + x.shape[2:])  # noqa: E731
        return {
            "weight": flat(weight),
            "obs": flat(traj.obs),
            "action": flat(traj.action),
            "log_prob": flat(traj.log_prob),
            "value": flat(traj.value),
            "advantage": flat(advantage),
            "target": flat(target),
        }

    def _finish_update(self, state, params, opt_state, env, stats, losses: dict):
        """The new state after one update, guarded (see `guard_update`), and
        the metrics every update reports: `episode_return`, `episodes`,
        `env_steps` ([] int32, cumulative), `train/episode_length`,
        `train/diverged`, `train/failure` and `train/<loss name>` for `losses`
        (a dict of [] arrays)."""
        count = state.update_count + 1
        new_state = OnPolicyState(params, opt_state, env, count, state.diverged)
        return finish_update(state, new_state, stats, losses, self.steps_per_update)
