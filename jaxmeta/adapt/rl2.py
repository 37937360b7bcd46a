"""RL^2 (Duan et al., 2016): a recurrent actor-critic trained by PPO on
`RL2Trials`, so its memory learns a fast RL algorithm across the episodes of
one task.

The env is an `RL2Trials` over a task distribution: each trial draws a task
and runs `episodes_per_trial` episodes of it, feeding back the previous
action, reward and done. The policy is `RecurrentActorCritic` (an optional
embedding MLP, a GRU or LSTM cell, policy and value heads on the cell's
output). Its memory is carried from each rollout segment to the next and
zeroed only where a trial ended, so it spans whole trials; the update replays
each segment from the memory it started with (truncated BPTT over
`num_steps` steps), with GAE(lambda) over the segment bootstrapped from the
value after it, and PPO's clipped loss (`learners/common/ppo_loss.py`) over
`num_epochs` epochs of minibatches of whole env sequences. A trial's end is
terminal: the objective is a trial's total reward, so a trial cut by an
inner time limit is not bootstrapped.

`act` is the first step of a fresh trial (zero memory): a recurrent policy's
later actions need its memory, which `policy_step` and `RL2Agent` (the trial
runner of `learners/common/trials.py`) carry.
"""

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxmeta.envs.rl2 import RL2Trials
from jaxmeta.learners.base import check_positive_ints
from jaxmeta.learners.common.finish import finish_update
from jaxmeta.learners.common.gae import gae_advantages
from jaxmeta.learners.common.minibatch import shuffled_minibatches
from jaxmeta.learners.common.on_policy import clipped_adam, float32_defaults
from jaxmeta.learners.common.policy import PolicyHead, policy_head_for
from jaxmeta.learners.common.ppo_loss import ppo_terms
from jaxmeta.learners.common.recurrent import (
    RecurrentActorCritic,
    collect_recurrent_rollout,
    unroll,
    zero_memory,
)
from jaxmeta.learners.common.rollout import EnvCarry, init_env_carry
from jaxmeta.learners.ppo import ADAM_EPS, PPOHParams
from jaxmeta.nets.mlp import check_activation
from jaxmeta.nets.recurrent import check_cell
from jaxmeta.validation import NONNEGATIVE, POSITIVE, Domain

RL2HParams = PPOHParams  # the same numbers as PPO's; RL^2's defaults below


@struct.dataclass
class RL2State:
    params: dict  # the RecurrentActorCritic's variables
    opt_state: optax.OptState
    env: EnvCarry
    memory: Any  # cell carry of every env's running trial, leaves [num_envs, H]
    update_count: jax.Array  # [] int32
    diverged: jax.Array  # [] bool


@dataclasses.dataclass(frozen=True)
class RL2:
    """Static RL^2 config. `env` must be an `RL2Trials`; `cell` a recurrent
    cell ("gru" or "lstm"); `num_minibatches` splits the `num_envs` env
    sequences of each update (it must divide `num_envs`)."""

    env: object
    num_envs: int = 16
    num_steps: int = 100
    hidden: int = 64
    cell: str = "gru"
    embed: tuple[int, ...] = ()
    activation: str = "tanh"
    num_epochs: int = 4
    num_minibatches: int = 2
    normalize_advantages: bool = True
    # Off: PPO's clip of the value change per update (at clip_eps) holds the
    # critic far below trial returns (tens to thousands) for many updates.
    clip_value_loss: bool = False

    hparam_domains = {
        "learning_rate": POSITIVE,
        "gamma": Domain(0.0, 1.0),
        "gae_lambda": Domain(0.0, 1.0),
        "clip_eps": POSITIVE,
        "ent_coef": NONNEGATIVE,
        "vf_coef": NONNEGATIVE,
        "max_grad_norm": POSITIVE,
    }

    def __post_init__(self):
        if not isinstance(self.env, RL2Trials):
            raise ValueError(
                f"env must be an RL2Trials (jaxmeta.envs.rl2.RL2Trials(env, tasks, "
                f"episodes_per_trial): trials of episodes over a task "
                f"distribution), got {type(self.env).__name__}"
            )
        if not self.env.discrete:
            raise ValueError(
                f"env's action space must be Discrete for RL2 (allowed: Discrete); "
                f"{self.env.env.name} has continuous actions"
            )
        check_cell(self.cell)
        check_activation(self.activation)
        check_positive_ints(
            num_envs=self.num_envs,
            num_steps=self.num_steps,
            hidden=self.hidden,
            num_epochs=self.num_epochs,
            num_minibatches=self.num_minibatches,
        )
        embed = tuple(self.embed)
        if any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in embed):
            raise ValueError(f"embed must be positive layer widths, got {self.embed}")
        object.__setattr__(self, "embed", embed)
        if self.num_envs % self.num_minibatches:
            raise ValueError(
                f"num_minibatches ({self.num_minibatches}) must divide num_envs "
                f"({self.num_envs}): minibatches are whole env sequences"
            )

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

    def initial_memory(self, batch: int):
        """The memory of `batch` fresh trials (leaves `[batch, hidden]`)."""
        return zero_memory(self.cell, self.hidden, batch)

    def default_hparams(self) -> RL2HParams:
        """PPO's fields; RL^2 defaults: rate 1e-3, gamma 0.9 and lambda 0.3
        (Bernoulli rewards are noisy: short credit assignment keeps the
        advantage variance low within long trials), entropy 0.01."""
        return float32_defaults(RL2HParams).replace(
            learning_rate=jnp.float32(1e-3),
            gamma=jnp.float32(0.9),
            gae_lambda=jnp.float32(0.3),
        )

    def init(self, key, hparams: RL2HParams, env_params) -> RL2State:
        """Network, optimizer state, `num_envs` fresh trials and zero memory."""
        key_net, key_env = jax.random.split(key)
        env = init_env_carry(key_env, self.env, env_params, self.num_envs, self.head)
        memory = self.initial_memory(self.num_envs)
        params = self.network().init(key_net, memory, env.obs)
        opt_state = clipped_adam(hparams, ADAM_EPS).init(params)
        zero = jnp.asarray(0, jnp.int32)
        return RL2State(params, opt_state, env, memory, zero, jnp.asarray(False))

    def policy_step(self, key, params, memory, obs, deterministic: bool = False):
        """One step of the policy. memory: leaves [N, H]; obs: [N, obs_dim]
        (an `RL2Trials` observation). Returns `(action [N], log_prob [N],
        value [N], memory)`: sampled actions, or the most likely ones when
        `deterministic`."""
        memory, logits, value = self.network().apply(params, memory, obs)
        if deterministic:
            action = jnp.argmax(logits, -1)
            return action, self.head.log_prob(logits, action), value, memory
        action, log_prob = self.head.sample(key, logits)
        return action, log_prob, value, memory

    def act(self, key, state: RL2State, obs, deterministic: bool = False):
        """Actions `[N]` for `obs: [N, obs_dim]` at the start of fresh trials."""
        memory = self.initial_memory(obs.shape[0])
        return self.policy_step(key, state.params, memory, obs, deterministic)[0]

    def update(self, key, state: RL2State, hparams: RL2HParams, env_params):
        """One rollout segment of `num_envs x num_steps` steps, then
        `num_epochs` of PPO over minibatches of env sequences replayed from
        their starting memory. Returns `(state, metrics)`: the common metrics
        (`episode_return` is the mean total reward of the trials that ended)
        and `train/policy_loss`, `value_loss`, `entropy`, `approx_kl`."""
        key_rollout, key_epochs = jax.random.split(key)

        def fn(key, memory, obs):
            action, log_prob, value, memory = self.policy_step(
                key, state.params, memory, obs
            )
            return memory, action, log_prob, value

        env, memory, traj, stats = collect_recurrent_rollout(
            key_rollout, self.env, env_params, state.env, state.memory,
            self.num_steps, fn,
        )  # fmt: skip
        _, _, last_value = self.network().apply(state.params, memory, env.obs)
        advantage, target = gae_advantages(
            traj.reward, traj.value, traj.done, last_value, hparams.gamma,
            hparams.gae_lambda,
        )  # fmt: skip
        first = jnp.zeros_like(traj.done[:1])
        sequences = {
            "obs": traj.obs,
            "action": traj.action,
            "log_prob": traj.log_prob,
            "value": traj.value,
            "advantage": advantage,
            "target": target,
            "reset": jnp.concatenate([first, traj.done[:-1]], 0),
        }
        # Env-major [N, T, ...] so minibatches are whole env sequences.
        batch = {k: jnp.swapaxes(v, 0, 1) for k, v in sequences.items()}
        leaves, treedef = jax.tree_util.tree_flatten(state.memory)
        batch.update({f"memory_{i}": leaf for i, leaf in enumerate(leaves)})
        params, opt_state, losses = self._epochs(
            key_epochs, state, batch, treedef, len(leaves), hparams
        )
        count = state.update_count + 1
        new_state = RL2State(params, opt_state, env, memory, count, state.diverged)
        kept, metrics = finish_update(
            state, new_state, stats, losses, self.steps_per_update
        )
        # The memory belongs to the env carry (the rollout ran on the kept
        # parameters), so it follows the new carry even when the step is
        # rejected.
        return kept.replace(memory=memory), metrics

    def _loss(self, params, minibatch, treedef, num_leaves, hparams):
        """PPO loss of env sequences [n, T, ...] replayed from their memory."""
        seq = {k: jnp.swapaxes(v, 0, 1) for k, v in minibatch.items()}
        leaves = [minibatch[f"memory_{i}"] for i in range(num_leaves)]
        memory = jax.tree_util.tree_unflatten(treedef, leaves)
        _, logits, value = unroll(
            self.network(), params, memory, seq["obs"], seq["reset"]
        )
        return ppo_terms(
            self.head, logits, value, seq, hparams, self.normalize_advantages,
            self.clip_value_loss,
        )  # fmt: skip

    def _epochs(self, key, state, batch, treedef, num_leaves, hparams):
        tx = clipped_adam(hparams, ADAM_EPS)
        grad_fn = jax.value_and_grad(self._loss, has_aux=True)

        def minibatch_step(carry, minibatch):
            params, opt_state = carry
            (_, aux), grads = grad_fn(params, minibatch, treedef, num_leaves, hparams)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), aux

        def epoch(carry, key):
            shuffled = shuffled_minibatches(key, batch, self.num_minibatches)
            return jax.lax.scan(minibatch_step, carry, shuffled)

        (params, opt_state), aux = jax.lax.scan(
            epoch,
            (state.params, state.opt_state),
            jax.random.split(key, self.num_epochs),
        )
        names = ("policy_loss", "value_loss", "entropy", "approx_kl")
        return params, opt_state, {n: a.mean() for n, a in zip(names, aux, strict=True)}


@dataclasses.dataclass(frozen=True)
class RL2Agent:
    """A trained RL^2 policy as a trial agent (`learners/common/trials.py`) on
    the inner env of `learner.env`: it builds the observation `RL2Trials`
    would (inner obs, previous action, reward, done) and carries its memory
    through the trial. agent_params: `(params, greedy)`, the network's
    params and a [] bool, True for the most likely actions (traced, so
    sampled and greedy play share one program)."""

    learner: RL2

    def init(self, key, agent_params):
        zeros = jnp.zeros((), jnp.float32)
        feedback = (jnp.zeros(self.learner.env.action_dim, jnp.float32), zeros, zeros)
        return self.learner.initial_memory(1), feedback

    def begin_episode(self, key, agent_state, agent_params):
        return agent_state

    def act(self, key, agent_state, agent_params, obs, t):
        params, greedy = agent_params
        memory, feedback = agent_state
        rl2_obs = self.learner.env._observe(obs, *feedback)
        memory, logits, _ = self.learner.network().apply(params, memory, rl2_obs[None])
        sampled = self.learner.head.sample(key, logits)[0]
        action = jnp.where(greedy, jnp.argmax(logits, -1), sampled)[0]
        return action, (memory, feedback)

    def observe(
        self, key, agent_state, agent_params, obs, action, reward, next_obs, done, t
    ):
        feedback = (
            self.learner.env._action_feature(action),
            jnp.asarray(reward, jnp.float32),
            jnp.asarray(done, jnp.float32),
        )
        return agent_state[0], feedback
