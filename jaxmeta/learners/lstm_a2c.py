"""A flat recurrent advantage actor-critic (A2C, the synchronous A3C): the
baseline FeUdal networks are compared with (Vezhnevets et al. 2017 compare
FuN with an LSTM actor-critic trained by A3C).

The network is `RecurrentActorCritic` (an embedding MLP, an LSTM or GRU
cell, policy and value heads). Its memory is carried from one rollout
segment to the next and zeroed where an episode ended; each update replays
the segment of `num_envs x num_steps` steps from the memory it started
with (truncated BPTT over `num_steps`), takes GAE(lambda) advantages
bootstrapped from the value after the segment and one gradient step of
the A2C loss (`learners/common/a2c.py`). A time-limit truncation is
treated as the end of the episode (no bootstrap), as in RL^2.

`act` is the first step of a fresh episode (zero memory).
"""

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxmeta.learners.base import check_positive_ints
from jaxmeta.learners.common.a2c import a2c_terms
from jaxmeta.learners.common.finish import finish_update
from jaxmeta.learners.common.gae import gae_advantages
from jaxmeta.learners.common.on_policy import clipped_adam, float32_defaults
from jaxmeta.learners.common.policy import PolicyHead, policy_head_for
from jaxmeta.learners.common.recurrent import (
    RecurrentActorCritic,
    collect_recurrent_rollout,
    unroll,
    zero_memory,
)
from jaxmeta.learners.common.rollout import EnvCarry, init_env_carry
from jaxmeta.nets.mlp import check_activation
from jaxmeta.nets.recurrent import check_cell
from jaxmeta.validation import NONNEGATIVE, POSITIVE, Domain

ADAM_EPS = 1e-5


@struct.dataclass
class A2CHParams:
    learning_rate: jax.Array = 7e-4
    gamma: jax.Array = 0.99
    gae_lambda: jax.Array = 0.95
    ent_coef: jax.Array = 0.01
    vf_coef: jax.Array = 0.5
    max_grad_norm: jax.Array = 0.5


A2C_DOMAINS = {
    "learning_rate": POSITIVE,
    "gamma": Domain(0.0, 1.0),
    "gae_lambda": Domain(0.0, 1.0),
    "ent_coef": NONNEGATIVE,
    "vf_coef": NONNEGATIVE,
    "max_grad_norm": POSITIVE,
}


@struct.dataclass
class RecurrentState:
    params: dict  # the network's variables
    opt_state: optax.OptState
    env: EnvCarry
    memory: Any  # the running episodes' memory, leaves [num_envs, ...]
    update_count: jax.Array  # [] int32
    diverged: jax.Array  # [] bool


def check_discrete(env, learner: str) -> None:
    """ValueError unless `env`'s action space is Discrete."""
    if not policy_head_for(env, env.default_params).discrete:
        raise ValueError(
            f"env's action space must be Discrete for {learner} (allowed: "
            f"Discrete); {getattr(env, 'name', type(env).__name__)} has "
            f"continuous actions"
        )


@dataclasses.dataclass(frozen=True)
class LSTMA2C:
    """Static config: `embed` MLP widths (() for none) before a `cell`
    ("lstm" or "gru") of `hidden` units; `num_envs x num_steps` env steps an
    update. Discrete actions only."""

    env: object
    num_envs: int = 16
    num_steps: int = 40
    hidden: int = 64
    cell: str = "lstm"
    embed: tuple[int, ...] = (64,)
    activation: str = "relu"
    normalize_advantages: bool = False

    hparam_domains = A2C_DOMAINS

    def __post_init__(self):
        check_discrete(self.env, "lstm_a2c")
        check_cell(self.cell)
        check_activation(self.activation)
        check_positive_ints(
            num_envs=self.num_envs, num_steps=self.num_steps, hidden=self.hidden
        )
        embed = tuple(self.embed)
        if any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in embed):
            raise ValueError(f"embed must be positive layer widths, got {self.embed}")
        object.__setattr__(self, "embed", embed)

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def head(self) -> PolicyHead:
        return policy_head_for(self.env, self.env.default_params)

    def network(self) -> RecurrentActorCritic:
        return RecurrentActorCritic(
            self.head.action_dim, self.hidden, self.cell, self.embed, self.activation
        )

    def default_hparams(self) -> A2CHParams:
        return float32_defaults(A2CHParams)

    def init(self, key, hparams: A2CHParams, env_params) -> RecurrentState:
        """Network, optimizer state, `num_envs` reset envs and zero memory."""
        key_net, key_env = jax.random.split(key)
        env = init_env_carry(key_env, self.env, env_params, self.num_envs, self.head)
        memory = zero_memory(self.cell, self.hidden, self.num_envs)
        params = self.network().init(key_net, memory, env.obs)
        opt_state = clipped_adam(hparams, ADAM_EPS).init(params)
        zero = jnp.asarray(0, jnp.int32)
        return RecurrentState(params, opt_state, env, memory, zero, jnp.asarray(False))

    def act(self, key, state: RecurrentState, obs, deterministic: bool = False):
        """Actions `[N]` for `obs: [N, obs_dim]` at the start of fresh episodes
        (later steps: `act_step`)."""
        memory = self.act_init(state, obs)
        return self.act_step(key, state, memory, obs, deterministic)[0]

    def act_init(self, state: RecurrentState, obs):
        """The memory of fresh episodes `obs: [N, obs_dim]` (zeros)."""
        del state
        return zero_memory(self.cell, self.hidden, obs.shape[0])

    def act_step(self, key, state: RecurrentState, memory, obs, deterministic=False):
        """`(actions [N], memory)`: one step of the recurrent policy on `obs:
        [N, obs_dim]` from the memory of the step before."""
        memory, logits, _ = self.network().apply(state.params, memory, obs)
        if deterministic:
            return jnp.argmax(logits, -1), memory
        return self.head.sample(key, logits)[0], memory

    def update(self, key, state: RecurrentState, hparams: A2CHParams, env_params):
        """One segment, then one A2C step on it replayed from its memory.
        Returns `(state, metrics)`: the common metrics and `train/policy_loss`,
        `value_loss`, `entropy`."""
        net = self.network()

        def fn(key, memory, obs):
            memory, logits, value = net.apply(state.params, memory, obs)
            action, log_prob = self.head.sample(key, logits)
            return memory, action, log_prob, value

        env, memory, traj, stats = collect_recurrent_rollout(
            key, self.env, env_params, state.env, state.memory, self.num_steps, fn
        )
        _, _, last_value = net.apply(state.params, memory, env.obs)
        resets = jnp.concatenate([jnp.zeros_like(traj.done[:1]), traj.done[:-1]], 0)

        def loss_fn(params):
            _, logits, value = unroll(net, params, state.memory, traj.obs, resets)
            advantage, target = gae_advantages(
                traj.reward, jax.lax.stop_gradient(value), traj.done, last_value,
                hparams.gamma, hparams.gae_lambda,
            )  # fmt: skip
            return a2c_terms(
                self.head, logits, value, traj.action, advantage, target, hparams,
                self.normalize_advantages,
            )  # fmt: skip

        (_, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        tx = clipped_adam(hparams, ADAM_EPS)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        losses = dict(zip(("policy_loss", "value_loss", "entropy"), aux, strict=True))
        count = state.update_count + 1
        new_state = RecurrentState(
            params, opt_state, env, memory, count, state.diverged
        )
        kept, metrics = finish_update(
            state, new_state, stats, losses, self.steps_per_update
        )
        # The memory follows the env carry even when the step is rejected.
        return kept.replace(memory=memory), metrics
