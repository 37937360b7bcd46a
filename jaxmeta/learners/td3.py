"""TD3: twin delayed deep deterministic policy gradient (Fujimoto et al. 2018).

Each update steps `num_envs` envs for `num_steps`, writes the transitions to a
replay ring buffer, then takes `gradient_steps` TD3 steps on uniform
minibatches of `batch_size`. Twin critics regress to the clipped double-Q
target of the target critics at the target actor's action plus clipped
Gaussian noise (target policy smoothing); every `policy_delay` critic steps
the deterministic actor climbs the first critic and the target actor and
critics move by Polyak averaging. The envs get the actor's action plus
Gaussian exploration noise, or uniform random actions for the first
`learning_starts` env steps (as in the paper), during which the gradient
steps are computed but discarded.

Actions: the actor outputs `tanh(.)` in [-1, 1], which is what the buffer
and the critics hold and where every noise scale is measured (half the
action range); the env gets that action mapped to the bounds of the member's
own task (the env carry). Time-limit truncations bootstrap.

`TD3Core` (networks, initialisation, the policy and one TD3 gradient step)
needs no env, so a two-level agent (HIRO) can run one per level on its own
batches, observations concatenated with goals.
"""

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxmeta.learners.base import check_positive_ints
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
    unit_to_bounds,
)
from jaxmeta.learners.common.on_policy import checked_hidden, float32_defaults
from jaxmeta.learners.common.policy import PolicyHead
from jaxmeta.learners.common.replay import ReplayBuffer, replay_init
from jaxmeta.learners.common.rollout import EnvCarry, init_env_carry
from jaxmeta.nets.mlp import DeterministicActor
from jaxmeta.validation import NONNEGATIVE, POSITIVE, Domain


@struct.dataclass
class TD3HParams:
    learning_rate: jax.Array = 1e-3  # actor (the paper's Adam rate for both)
    critic_learning_rate: jax.Array = 1e-3
    gamma: jax.Array = 0.99
    tau: jax.Array = 0.005  # Polyak rate of the target actor and critics
    exploration_noise: jax.Array = 0.1  # std of the behaviour policy's noise
    policy_noise: jax.Array = 0.2  # std of the target policy smoothing noise
    noise_clip: jax.Array = 0.5  # the smoothing noise is clipped to +-this


TD3_HPARAM_DOMAINS = {
    "learning_rate": POSITIVE,
    "critic_learning_rate": POSITIVE,
    "gamma": Domain(0.0, 1.0),
    "tau": Domain(0.0, 1.0, open_minimum=True),
    "exploration_noise": NONNEGATIVE,
    "policy_noise": NONNEGATIVE,
    "noise_clip": NONNEGATIVE,
}


@dataclasses.dataclass(frozen=True)
class TD3Core:
    """TD3's networks and pure steps for `action_dim` actions in [-1, 1] on
    flat observations: what the `TD3` learner and each level of a two-level
    agent share. Static: sizes, activation, `policy_delay` (critic steps per
    actor and target step)."""

    action_dim: int
    hidden: tuple[int, ...] = (256, 256)
    activation: str = "relu"
    policy_delay: int = 2

    def __post_init__(self):
        check_positive_ints(action_dim=self.action_dim, policy_delay=self.policy_delay)
        hidden = checked_hidden(self.hidden, self.activation)
        object.__setattr__(self, "hidden", hidden)

    def actor(self) -> DeterministicActor:
        return DeterministicActor(self.action_dim, self.hidden, self.activation)

    def critic(self) -> TwinQ:
        return TwinQ(self.hidden, self.activation)

    def optimizers(self, hparams: TD3HParams) -> dict:
        """Adam per network, from the traced rates (its state does not depend
        on them)."""
        return {
            "actor": optax.adam(hparams.learning_rate),
            "critic": optax.adam(hparams.critic_learning_rate),
        }

    def init(self, key, obs_dim: int, hparams: TD3HParams):
        """`(params, target_params, opt_state)`, each a dict {"actor",
        "critic" (leaves [2, ...])}; the targets start as copies."""
        key_actor, key_critic = jax.random.split(key)
        obs, action = jnp.zeros((1, obs_dim)), jnp.zeros((1, self.action_dim))
        params = {
            "actor": self.actor().init(key_actor, obs),
            "critic": self.critic().init(key_critic, obs, action),
        }
        opt_state = {
            name: tx.init(params[name]) for name, tx in self.optimizers(hparams).items()
        }
        return params, params, opt_state

    def policy(self, actor_params, obs):
        """The deterministic policy: `obs [..., obs_dim]` -> actions `[...,
        action_dim]` in [-1, 1]."""
        return jnp.tanh(self.actor().apply(actor_params, obs))

    def explore(self, key, actor_params, obs, noise_std):
        """The behaviour policy: `policy` plus N(0, noise_std^2) noise, clipped
        to [-1, 1]; obs `[..., obs_dim]`, noise_std [] -> `[..., action_dim]`."""
        action = self.policy(actor_params, obs)
        noise = noise_std * jax.random.normal(key, action.shape)
        return jnp.clip(action + noise, -1.0, 1.0)

    def step(self, key, params, target_params, opt_state, batch, hparams, step):
        """One TD3 gradient step on `batch` (as `replay_sample`: obs, next_obs
        `[B, obs_dim]`, action `[B, action_dim]` in [-1, 1], reward `[B]`,
        terminated `[B]` bool). The critics always step; the actor (on the
        first critic, after the critic step) and the Polyak targets only when
        `(step + 1) % policy_delay == 0`, step [] int (only its residue
        matters). Returns `(params, target_params, opt_state, aux)`, aux
        {"critic_loss", "actor_loss" (-Q1 of the policy before its step, also
        on steps that leave it), "q" (mean of the critics)}, each []."""
        actor, critic, txs = self.actor(), self.critic(), self.optimizers(hparams)
        next_obs = batch["next_obs"]
        next_action = self.policy(target_params["actor"], next_obs)
        noise = hparams.policy_noise * jax.random.normal(key, next_action.shape)
        noise = jnp.clip(noise, -hparams.noise_clip, hparams.noise_clip)
        next_action = jnp.clip(next_action + noise, -1.0, 1.0)
        next_q = critic.apply(target_params["critic"], next_obs, next_action)
        target = clipped_double_q_target(
            batch["reward"], batch["terminated"], next_q, hparams.gamma
        )
        critic_params, critic_opt, critic_loss = twin_q_step(
            critic, txs["critic"], params["critic"], opt_state["critic"], batch, target
        )

        def actor_loss_fn(actor_params):
            action = jnp.tanh(actor.apply(actor_params, batch["obs"]))
            return -jnp.mean(critic.apply(critic_params, batch["obs"], action)[0])

        def delayed(_):
            loss, grads = jax.value_and_grad(actor_loss_fn)(params["actor"])
            updates, actor_opt = txs["actor"].update(grads, opt_state["actor"])
            actor_params = optax.apply_updates(params["actor"], updates)
            online = {"actor": actor_params, "critic": critic_params}
            new_target = polyak_update(target_params, online, hparams.tau)
            return actor_params, actor_opt, new_target, loss

        def wait(_):
            loss = actor_loss_fn(params["actor"])
            return params["actor"], opt_state["actor"], target_params, loss

        due = (step + 1) % self.policy_delay == 0
        actor_params, actor_opt, new_target, actor_loss = jax.lax.cond(
            due, delayed, wait, None
        )
        new_params = {"actor": actor_params, "critic": critic_params}
        new_opt = {"actor": actor_opt, "critic": critic_opt}
        q = critic.apply(params["critic"], batch["obs"], batch["action"])
        aux = {"critic_loss": critic_loss, "actor_loss": actor_loss, "q": q.mean()}
        return new_params, new_target, new_opt, aux


@struct.dataclass
class TD3State:
    params: dict  # {"actor", "critic" (leaves [2, ...])}
    target_params: dict  # Polyak averages of params, same keys
    opt_state: dict  # Adam states, keyed as params
    env: EnvCarry
    buffer: ReplayBuffer
    exploration_noise: jax.Array  # [] act's noise std, from the last hparams
    update_count: jax.Array  # [] int32
    diverged: jax.Array  # [] bool


@dataclasses.dataclass(frozen=True)
class TD3(ReplayLearnerConfig):
    """Static TD3 config. `env`: a gymnax-contract env with a Box action space;
    `num_envs x num_steps` env steps and `gradient_steps` critic steps per
    update, the actor and targets stepping every `policy_delay`-th; the
    first `learning_starts` env steps take uniform random actions. Defaults
    as the paper's (batch 100, 400 x 300 ReLU networks, d = 2, 1,000 random
    steps), the buffer smaller."""

    env: object
    num_envs: int = 1
    num_steps: int = 1
    gradient_steps: int = 1
    buffer_capacity: int = 100_000
    batch_size: int = 100
    learning_starts: int = 1_000
    hidden: tuple[int, ...] = (400, 300)
    activation: str = "relu"
    policy_delay: int = 2
    # Built by check_off_policy_config, outside any trace.
    _head: PolicyHead = dataclasses.field(init=False, repr=False, compare=False)

    hparam_domains = TD3_HPARAM_DOMAINS

    def __post_init__(self):
        check_off_policy_config(self, discrete=False, policy_delay=self.policy_delay)

    @property
    def core(self) -> TD3Core:
        return TD3Core(
            self.head.action_dim, self.hidden, self.activation, self.policy_delay
        )

    def default_hparams(self) -> TD3HParams:
        """Defaults as float32 scalars."""
        return float32_defaults(TD3HParams)

    def init(self, key, hparams: TD3HParams, env_params) -> TD3State:
        """Actor, twin critics, their targets and Adam states, an empty buffer
        and `num_envs` reset envs with the bounds of `env_params`."""
        key_nets, key_env = jax.random.split(key)
        env = init_env_carry(key_env, self.env, env_params, self.num_envs, self.head)
        obs_dim = env.obs.shape[-1]
        params, target_params, opt_state = self.core.init(key_nets, obs_dim, hparams)
        return TD3State(
            params,
            target_params,
            opt_state,
            env,
            replay_init(self.buffer_capacity, obs_dim, self.head.action_dim),
            jnp.asarray(hparams.exploration_noise, jnp.float32),
            jnp.asarray(0, jnp.int32),
            jnp.asarray(False),
        )

    def act(self, key, state: TD3State, obs, deterministic: bool = False):
        """Env actions `[N, ...]` for `obs: [N, obs_dim]`, inside the state's
        task bounds: the behaviour policy (noise std `state.exploration_noise`),
        or the deterministic policy when `deterministic`."""
        actor_params = state.params["actor"]
        if deterministic:
            action = self.core.policy(actor_params, obs)
        else:
            noise = state.exploration_noise
            action = self.core.explore(key, actor_params, obs, noise)
        action = unit_to_bounds(action, state.env.action_low, state.env.action_high)
        return action.reshape(action.shape[:-1] + self.head.env_shape)

    def update(self, key, state: TD3State, hparams: TD3HParams, env_params):
        """One rollout of `num_envs x num_steps` into the buffer, then
        `gradient_steps` TD3 steps (discarded until `learning_starts`).

        Returns `(state, metrics)`: the metrics of `finish_update` with
        `train/critic_loss`, `train/actor_loss` and `train/q` (means over the
        gradient steps).
        """
        core, carry = self.core, state.env
        low, high = carry.action_low, carry.action_high

        def policy_fn(key, obs):
            action = core.explore(
                key, state.params["actor"], obs, hparams.exploration_noise
            )
            return action, unit_to_bounds(action, low, high), jnp.zeros(obs.shape[0])

        # The index of this update's first critic step, modulo policy_delay
        # (a product of counts could overflow int32).
        delay = self.policy_delay
        first = (state.update_count % delay) * (self.gradient_steps % delay)

        def step_fn(key, trained, batch, i):
            return core.step(key, *trained, batch, hparams, first + i)

        env, buffer, count, trained, aux, stats = replay_gradient_steps(
            key, self, state, env_params, policy_fn, step_fn
        )
        losses = {name: value.mean() for name, value in aux.items()}
        new_state = TD3State(
            *trained,
            env,
            buffer,
            jnp.asarray(hparams.exploration_noise, jnp.float32),
            count,
            state.diverged,
        )
        return finish_update(state, new_state, stats, losses, self.steps_per_update)
