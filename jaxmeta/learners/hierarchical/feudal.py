"""FeUdal networks (FuN, Vezhnevets et al. 2017): a manager that sets goal
directions in a learned latent space and a worker rewarded for following
them, trained by advantage actor-critic (A2C, the synchronous A3C the
paper uses).

The network is `feudal_net.FeudalNet`. Each update collects `num_envs x
num_steps` steps carrying the network's memory across segments (zeroed at
episode ends), replays the segment from the memory it started with
(truncated BPTT) and takes one gradient step of

- the worker's A2C loss on the return of r_t + alpha r^I_t at discount
  `worker_gamma` (r^I the mean cosine between the latent state's change and
  the goals of the last c steps, `feudal_net.intrinsic_reward`), with its
  critic V^W;
- the manager's transition policy gradient, -A^M_t d_cos(s_{t+c} - s_t,
  g_t), A^M_t = R_t - V^M_t the advantage of the extrinsic return at
  discount `gamma` (the state change is a constant: only g_t moves), over
  the steps whose horizon ends inside the segment or with the episode
  (`feudal_net.transitions`), plus its critic V^M's loss.

Advantages are GAE(lambda) (lambda = 1: the n-step returns of A3C),
bootstrapped from each critic's value after the segment; a time-limit
truncation ends the return (no bootstrap), as in `lstm_a2c`. Every number
(rate, both discounts, lambda, alpha, entropy and value weights, clip) is a
traced hparam; c, r and the sizes are static.

`act` is the first step of a fresh episode (zero memory).
"""

import dataclasses

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
from jaxmeta.learners.common.recurrent import collect_recurrent_rollout, reset_memory
from jaxmeta.learners.common.rollout import init_env_carry
from jaxmeta.learners.hierarchical.feudal_net import (
    FeudalNet,
    cosine,
    intrinsic_reward,
    transitions,
    zero_feudal_memory,
)
from jaxmeta.learners.lstm_a2c import (
    A2C_DOMAINS,
    ADAM_EPS,
    RecurrentState,
    check_discrete,
)
from jaxmeta.nets.mlp import check_activation
from jaxmeta.validation import NONNEGATIVE, Domain


@struct.dataclass
class FeudalHParams:
    learning_rate: jax.Array = 7e-4
    gamma: jax.Array = 0.99  # the manager's (extrinsic) discount
    worker_gamma: jax.Array = 0.95
    gae_lambda: jax.Array = 0.95
    alpha: jax.Array = 0.05  # weight of the intrinsic reward (see the docs)
    ent_coef: jax.Array = 0.01
    vf_coef: jax.Array = 0.5
    max_grad_norm: jax.Array = 0.5


@dataclasses.dataclass(frozen=True)
class FeUdal:
    """Static FuN config. `hidden`: f_percept's MLP widths; `goal_dim` d
    (the manager's latent space and LSTM size); `embed_dim` k; `horizon` c
    (goal horizon and pooling window); `radius` r of the dilated LSTM (1: a
    plain LSTM); `worker_hidden` the worker LSTM's size. Discrete actions."""

    env: object
    num_envs: int = 16
    num_steps: int = 40
    hidden: tuple[int, ...] = (64,)
    worker_hidden: int = 64
    goal_dim: int = 32
    embed_dim: int = 16
    horizon: int = 10
    radius: int = 10
    activation: str = "relu"
    normalize_advantages: bool = False

    hparam_domains = {
        **A2C_DOMAINS,
        "worker_gamma": Domain(0.0, 1.0),
        "alpha": NONNEGATIVE,
    }

    def __post_init__(self):
        for name in ("horizon", "radius"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                letter = "c" if name == "horizon" else "r"
                raise ValueError(
                    f"{name} ({letter}) must be an integer >= 1, got {value!r}"
                )
        check_discrete(self.env, "feudal")
        check_activation(self.activation)
        check_positive_ints(
            num_envs=self.num_envs,
            num_steps=self.num_steps,
            worker_hidden=self.worker_hidden,
            goal_dim=self.goal_dim,
            embed_dim=self.embed_dim,
        )
        hidden = tuple(self.hidden)
        if not hidden or any(
            isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in hidden
        ):
            raise ValueError(f"hidden must be positive layer widths, got {self.hidden}")
        object.__setattr__(self, "hidden", hidden)
        if self.num_steps < self.horizon:
            raise ValueError(
                f"num_steps ({self.num_steps}) must be >= horizon ({self.horizon}): "
                f"the manager learns from transitions that end inside a segment"
            )

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def head(self) -> PolicyHead:
        return policy_head_for(self.env, self.env.default_params)

    def network(self) -> FeudalNet:
        return FeudalNet(
            self.head.action_dim, self.hidden, self.worker_hidden, self.goal_dim,
            self.embed_dim, self.horizon, self.radius, self.activation,
        )  # fmt: skip

    def initial_memory(self, batch: int) -> dict:
        """The memory of `batch` fresh episodes (`feudal_net`'s docstring)."""
        return zero_feudal_memory(
            batch, self.radius, self.goal_dim, self.worker_hidden, self.horizon
        )

    def default_hparams(self) -> FeudalHParams:
        return float32_defaults(FeudalHParams)

    def init(self, key, hparams: FeudalHParams, env_params) -> RecurrentState:
        """Network, optimizer state, `num_envs` reset envs and zero memory."""
        key_net, key_env = jax.random.split(key)
        env = init_env_carry(key_env, self.env, env_params, self.num_envs, self.head)
        memory = self.initial_memory(self.num_envs)
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
        """The manager's and worker's memory of fresh episodes `obs: [N,
        obs_dim]`."""
        del state
        return self.initial_memory(obs.shape[0])

    def act_step(self, key, state: RecurrentState, memory, obs, deterministic=False):
        """`(actions [N], memory)`: one step of the worker's policy under the
        manager's goals, both LSTMs carried from the step before."""
        memory, out = self.network().apply(state.params, memory, obs)
        if deterministic:
            return jnp.argmax(out["logits"], -1), memory
        return self.head.sample(key, out["logits"])[0], memory

    def _unroll(self, params, memory, obs, resets):
        """Replay a segment: obs [T, N, obs_dim], resets [T, N]; outputs of
        `FeudalNet` stacked to [T, N, ...]."""
        net = self.network()

        def step(memory, inputs):
            obs_t, reset_t = inputs
            return net.apply(params, reset_memory(memory, reset_t), obs_t)

        return jax.lax.scan(step, memory, (obs, resets))[1]

    def update(self, key, state: RecurrentState, hparams: FeudalHParams, env_params):
        """One segment, then one A2C step of worker and manager on it.
        Returns `(state, metrics)`: the common metrics and `train/policy_loss`,
        `value_loss`, `entropy` (the worker's), `manager_loss` (the
        transition policy gradient's surrogate), `manager_value_loss`,
        `intrinsic_reward` (mean r^I) and `goal_cosine` (mean d_cos over the
        manager's valid transitions)."""
        net = self.network()

        def fn(key, memory, obs):
            memory, out = net.apply(state.params, memory, obs)
            action, log_prob = self.head.sample(key, out["logits"])
            return memory, action, log_prob, out["v_worker"]

        env, memory, traj, stats = collect_recurrent_rollout(
            key, self.env, env_params, state.env, state.memory, self.num_steps, fn
        )
        _, last = net.apply(state.params, memory, env.obs)
        resets = jnp.concatenate([jnp.zeros_like(traj.done[:1]), traj.done[:-1]], 0)
        next_states = net.apply(state.params, traj.final_obs, method=FeudalNet.latent)
        sg = jax.lax.stop_gradient

        def loss_fn(params):
            out = self._unroll(params, state.memory, traj.obs, resets)
            states, goals = sg(out["s"]), sg(out["g"])
            r_int = intrinsic_reward(
                states, goals, next_states, state.memory, resets, self.horizon
            )
            adv_w, target_w = gae_advantages(
                traj.reward + hparams.alpha * r_int, sg(out["v_worker"]), traj.done,
                last["v_worker"], hparams.worker_gamma, hparams.gae_lambda,
            )  # fmt: skip
            worker_loss, worker_aux = a2c_terms(
                self.head, out["logits"], out["v_worker"], traj.action, adv_w,
                target_w, hparams, self.normalize_advantages,
            )  # fmt: skip
            adv_m, target_m = gae_advantages(
                traj.reward, sg(out["v_manager"]), traj.done, last["v_manager"],
                hparams.gamma, hparams.gae_lambda,
            )  # fmt: skip
            direction, valid = transitions(states, next_states, traj.done, self.horizon)
            valid = valid.astype(jnp.float32)
            count = jnp.maximum(valid.sum(), 1.0)
            cos = cosine(direction, out["g"])
            manager_loss = -jnp.sum(valid * sg(adv_m) * cos) / count
            manager_value_loss = 0.5 * jnp.mean((out["v_manager"] - sg(target_m)) ** 2)
            loss = worker_loss + manager_loss + hparams.vf_coef * manager_value_loss
            aux = (*worker_aux, manager_loss, manager_value_loss, r_int.mean(),
                   jnp.sum(valid * sg(cos)) / count)  # fmt: skip
            return loss, aux

        (_, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        tx = clipped_adam(hparams, ADAM_EPS)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        names = ("policy_loss", "value_loss", "entropy", "manager_loss",
                 "manager_value_loss", "intrinsic_reward", "goal_cosine")  # fmt: skip
        losses = dict(zip(names, aux, strict=True))
        count = state.update_count + 1
        new_state = RecurrentState(
            params, opt_state, env, memory, count, state.diverged
        )
        kept, metrics = finish_update(
            state, new_state, stats, losses, self.steps_per_update
        )
        # The memory follows the env carry even when the step is rejected.
        return kept.replace(memory=memory), metrics
