"""Deep Q-Networks (Mnih et al. 2015), double (van Hasselt et al. 2016) by
default, for discrete actions.

Each update steps `num_envs` envs for `num_steps` with an epsilon-greedy
policy, writes the transitions to a replay ring buffer, takes
`gradient_steps` steps of Adam on the Huber (or squared) TD error of uniform
minibatches of `batch_size`, then, every `target_update_every` updates, moves
the target network toward the online one by `tau` (`tau = 1`: a hard copy;
small `tau` every update: Polyak averaging). The TD target is the n-step
return (`n_step`, 1 by default) bootstrapped from the target network at the
action the online network prefers (`double`) or at the target's own argmax.
Time-limit truncations bootstrap; only terminations end a target. With
`normalize_obs` the buffer keeps raw observations and the Q network sees them
standardised by the running statistics of every observation so far (those of
the latest update), as rejax does.

Exploration: epsilon falls linearly from `eps_start` to `eps_end` over the
first `eps_decay_fraction * total_timesteps` env steps and stays there
(`total_timesteps` is static config: the learner does not know how many
updates `train` will run, so set it to the run's budget). One epsilon per
update, the schedule's value at the env steps taken before it; before
`learning_starts` env steps the actions are uniform and no gradient step
is taken (a `lax.cond`: shapes and loop lengths never change).
"""

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxmeta.learners.base import env_steps
from jaxmeta.learners.common.critics import polyak_update
from jaxmeta.learners.common.finish import finish_update
from jaxmeta.learners.common.normalization import normalize, update_running_stats
from jaxmeta.learners.common.off_policy import (
    ReplayLearnerConfig,
    check_off_policy_config,
)
from jaxmeta.learners.common.on_policy import (
    clipped_adam,
    float32_defaults,
)
from jaxmeta.learners.common.policy import PolicyHead
from jaxmeta.learners.common.q_learning import (
    LOSSES,
    epsilon_greedy,
    linear_epsilon,
    td_step,
)
from jaxmeta.learners.common.replay import (
    ReplayBuffer,
    replay_add,
    replay_init,
    replay_sample_n_step,
)
from jaxmeta.learners.common.rollout import EnvCarry, collect_rollout, init_env_carry
from jaxmeta.nets.mlp import MLP
from jaxmeta.validation import POSITIVE, Domain

ADAM_EPS = 1e-8


@struct.dataclass
class DQNHParams:
    learning_rate: jax.Array = 1e-3
    gamma: jax.Array = 0.99
    tau: jax.Array = 1.0  # target step toward the online net (1: hard copy)
    eps_start: jax.Array = 1.0
    eps_end: jax.Array = 0.05
    eps_decay_fraction: jax.Array = 0.1  # of total_timesteps
    max_grad_norm: jax.Array = 10.0


@struct.dataclass
class DQNState:
    params: dict  # online Q network
    target_params: dict
    opt_state: optax.OptState
    env: EnvCarry
    buffer: ReplayBuffer  # actions [C, 1] int32
    epsilon: jax.Array  # [] the exploration rate of the latest rollout
    update_count: jax.Array  # [] int32
    diverged: jax.Array  # [] bool


@dataclasses.dataclass(frozen=True)
class DQN(ReplayLearnerConfig):
    """Static DQN config. `env`: a gymnax-contract env with a Discrete action
    space; `num_envs x num_steps` env steps and `gradient_steps` TD steps per
    update; `learning_starts` env steps of uniform actions before gradient
    steps count; the epsilon schedule spans `total_timesteps` env steps."""

    env: object
    num_envs: int = 1
    num_steps: int = 4
    gradient_steps: int = 1
    buffer_capacity: int = 100_000
    batch_size: int = 64
    learning_starts: int = 1_000
    target_update_every: int = 250  # updates between target steps
    n_step: int = 1
    double: bool = True
    loss: str = "huber"
    total_timesteps: int = 100_000
    hidden: tuple[int, ...] = (64, 64)
    activation: str = "relu"
    normalize_obs: bool = False
    _head: PolicyHead = dataclasses.field(init=False, repr=False, compare=False)

    hparam_domains = {
        "learning_rate": POSITIVE,
        "gamma": Domain(0.0, 1.0),
        "tau": Domain(0.0, 1.0, open_minimum=True),
        "eps_start": Domain(0.0, 1.0),
        "eps_end": Domain(0.0, 1.0),
        "eps_decay_fraction": Domain(0.0, 1.0),
        "max_grad_norm": POSITIVE,
    }

    def __post_init__(self):
        check_off_policy_config(
            self,
            discrete=True,
            target_update_every=self.target_update_every,
            n_step=self.n_step,
            total_timesteps=self.total_timesteps,
        )
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if not isinstance(self.double, bool):
            raise ValueError(f"double must be true or false, got {self.double!r}")
        self._check_n_step()

    def _check_n_step(self):
        if self.n_step == 1:
            return
        # An n-step return reads slot s + k * num_envs (same env, k steps on).
        if self.buffer_capacity % self.num_envs:
            raise ValueError(
                f"with n_step > 1, buffer_capacity ({self.buffer_capacity}) must "
                f"be a multiple of num_envs ({self.num_envs})"
            )
        span = (self.n_step - 1) * self.num_envs
        if max(self.learning_starts, self.steps_per_update) <= span:
            raise ValueError(
                f"learning_starts ({self.learning_starts}) or num_envs * "
                f"num_steps ({self.steps_per_update}) must exceed (n_step - 1) "
                f"* num_envs = {span}, so every sampled start has n_step steps"
            )

    def _q(self):
        return MLP(self.hidden, self.head.action_dim, self.activation, 1.0)

    def _q_values(self, params, env: EnvCarry, obs):
        """Q `[..., num_actions]` of raw `obs: [..., obs_dim]`."""
        if self.normalize_obs:
            obs = normalize(env.obs_stats, obs)
        return self._q().apply(params, obs)

    def default_hparams(self) -> DQNHParams:
        """Defaults as float32 scalars."""
        return float32_defaults(DQNHParams)

    def init(self, key, hparams: DQNHParams, env_params) -> DQNState:
        """Online and target Q networks (equal), Adam state, an empty buffer
        and `num_envs` reset envs."""
        key_q, key_env = jax.random.split(key)
        env = init_env_carry(key_env, self.env, env_params, self.num_envs, self.head)
        params = self._q().init(key_q, env.obs[:1])
        return DQNState(
            params,
            params,
            clipped_adam(hparams, ADAM_EPS).init(params),
            env,
            replay_init(self.buffer_capacity, env.obs.shape[-1], 1, jnp.int32),
            jnp.asarray(hparams.eps_start, jnp.float32),
            jnp.asarray(0, jnp.int32),
            jnp.asarray(False),
        )

    def act(self, key, state: DQNState, obs, deterministic: bool = False):
        """Actions `[N]` int for `obs: [N, obs_dim]`: epsilon-greedy with the
        state's epsilon, or greedy when `deterministic`."""
        if deterministic:
            return jnp.argmax(self._q_values(state.params, state.env, obs), -1)
        q = self._q_values(state.params, state.env, obs)
        return epsilon_greedy(key, q, state.epsilon)

    def _td_step(self, params, target_params, opt_state, batch, hparams, env):
        """One Adam step on the TD loss of `batch` (as `replay_sample_n_step`).
        Returns `(params, opt_state, aux)`, aux a dict of []."""
        tx = clipped_adam(hparams, ADAM_EPS)
        q_fn = lambda p, obs: self._q_values(p, env, obs)  # noqa: E731
        return td_step(
            q_fn, tx, params, target_params, opt_state, batch, self.loss, self.double
        )

    def update(self, key, state: DQNState, hparams: DQNHParams, env_params):
        """One epsilon-greedy rollout of `num_envs x num_steps` into the
        buffer, `gradient_steps` TD steps (none until `learning_starts`),
        then the target step on every `target_update_every`-th update.

        Returns `(state, metrics)`: the metrics of `finish_update` with
        `train/td_loss` and `train/q_mean` (means over the gradient steps, 0
        before `learning_starts`) and `train/epsilon` (this update's rollout).
        """
        key_rollout, key_steps = jax.random.split(key)
        before = env_steps(state.update_count, self.steps_per_update)
        epsilon = jnp.where(
            before < self.learning_starts,
            1.0,
            linear_epsilon(
                hparams.eps_start,
                hparams.eps_end,
                hparams.eps_decay_fraction,
                before,
                self.total_timesteps,
            ),
        )

        def policy_fn(key, obs):
            q = self._q_values(state.params, state.env, obs)
            action = epsilon_greedy(key, q, epsilon)
            zeros = jnp.zeros(obs.shape[0])
            return action, action, zeros, zeros

        env, traj, stats = collect_rollout(
            key_rollout,
            self.env,
            env_params,
            state.env,
            self.num_steps,
            policy_fn,
            False,
        )
        flat = lambda x: x.reshape((self.steps_per_update,) + x.shape[2:])  # noqa: E731
        if self.normalize_obs:
            obs_stats = update_running_stats(env.obs_stats, flat(traj.final_obs))
            env = env.replace(obs_stats=obs_stats)
        buffer = replay_add(
            state.buffer,
            flat(traj.obs),
            flat(traj.action)[:, None],
            flat(traj.reward),
            flat(traj.final_obs),
            flat(jnp.logical_and(traj.done, jnp.logical_not(traj.truncated))),
            flat(traj.done),
        )
        count = state.update_count + 1
        active = env_steps(count, self.steps_per_update) >= self.learning_starts
        stride = self.num_envs if self.n_step > 1 else 1

        def gradient_step(carry, key):
            params, opt_state = carry
            batch = replay_sample_n_step(
                key, buffer, self.batch_size, self.n_step, stride, hparams.gamma
            )
            params, opt_state, aux = self._td_step(
                params, state.target_params, opt_state, batch, hparams, env
            )
            return (params, opt_state), aux

        def learn():
            (params, opt_state), aux = jax.lax.scan(
                gradient_step,
                (state.params, state.opt_state),
                jax.random.split(key_steps, self.gradient_steps),
            )
            # tau 0 leaves the target exactly as it was.
            tau = jnp.where(count % self.target_update_every == 0, hparams.tau, 0.0)
            target = polyak_update(state.target_params, params, tau)
            return params, target, opt_state, {k: v.mean() for k, v in aux.items()}

        def wait():
            aux = jax.eval_shape(learn)[-1]
            zeros = {k: jnp.zeros(v.shape, v.dtype) for k, v in aux.items()}
            return state.params, state.target_params, state.opt_state, zeros

        # The update count of a population started together is not batched,
        # so under vmap this stays a branch and the fill phase skips the
        # gradient steps; a batched count makes it a select of both.
        params, target, opt_state, losses = jax.lax.cond(active, learn, wait)
        losses["epsilon"] = epsilon
        new_state = DQNState(
            params, target, opt_state, env, buffer, epsilon, count, state.diverged
        )
        new_state, metrics = finish_update(
            state, new_state, stats, losses, self.steps_per_update
        )
        # Always the new buffer: a rejected member never learns again, so what
        # its buffer holds does not matter, and choosing between the old and
        # new buffer would copy all of it every update.
        return new_state.replace(buffer=buffer), metrics
