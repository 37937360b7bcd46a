"""HIRO: data-efficient hierarchical RL (Nachum, Gu, Lee and Levine 2018).

Two TD3 agents (`TD3Core`, one per level). Every `goal_every` (c) steps, or
when an episode starts, the manager emits a goal g in the space of the
observation dims `goal_dims`, relative to the current state (its actor's
[-1, 1] output times the traced `goal_range`, plus Gaussian exploration
noise). Between its goals, the goal follows the fixed transition h(s, g, s')
= s + g - s', so the absolute target stays put. The worker sees (s, g), acts
in the env and is rewarded -||s + g - s'||; the manager is rewarded the sum
of the env rewards over its c steps (scaled by `manager_reward_scale`).

Both levels learn off-policy from their own replay. The manager's replay
keeps each window's c states and worker actions, and with
`off_policy_correction` every sampled transition's goal is relabelled to the
one of `num_candidates` (the original, the achieved change s_{t+c} - s_t and
Gaussian draws around it) under which the current worker most likely took
the stored actions (`hiro_parts.relabel_goals`). For the first
`learning_starts` env steps goals and actions are uniform random and the
gradient steps are computed but discarded, as in TD3.
"""

import dataclasses
import math

import jax
import jax.numpy as jnp
from flax import struct

from jaxmeta.learners.base import check_positive_ints, env_steps
from jaxmeta.learners.common.finish import finish_update
from jaxmeta.learners.common.off_policy import (
    ReplayLearnerConfig,
    check_off_policy_config,
    unit_to_bounds,
)
from jaxmeta.learners.common.on_policy import float32_defaults
from jaxmeta.learners.common.policy import PolicyHead
from jaxmeta.learners.common.replay import (
    ReplayBuffer,
    replay_init,
    replay_sample,
)
from jaxmeta.learners.common.rollout import EnvCarry, init_env_carry
from jaxmeta.learners.hierarchical import hiro_parts as parts
from jaxmeta.learners.hierarchical.hiro_hparams import (
    HIRO_HPARAM_DOMAINS,
    HIROHParams,
    check_goal_dims,
    level_hparams,
)
from jaxmeta.learners.hierarchical.hiro_rollout import (
    GoalCarry,
    goal_rollout,
    manager_batch_of,
)
from jaxmeta.learners.td3 import TD3Core


@struct.dataclass
class HIROState:
    params: dict  # {"worker", "manager"}: each TD3Core params {"actor", "critic"}
    target_params: dict  # Polyak averages, same keys
    opt_state: dict  # Adam states, same keys
    env: EnvCarry
    goals: GoalCarry  # the running goals and windows of every env
    buffer: ReplayBuffer  # worker transitions, obs = (s, g)
    manager_buffer: parts.WindowReplay
    exploration_noise: jax.Array  # [] act's worker noise, from the last hparams
    manager_noise: jax.Array  # [] act's goal noise
    goal_range: jax.Array  # []
    update_count: jax.Array  # [] int32
    diverged: jax.Array  # [] bool


@dataclasses.dataclass(frozen=True)
class HIRO(ReplayLearnerConfig):
    """Static HIRO config. `env`: a gymnax-contract env with a Box action
    space and flat observations; `num_envs x num_steps` env steps per update,
    then `gradient_steps` worker and `manager_gradient_steps` manager TD3
    steps (batches of `batch_size` from replays of `buffer_capacity` and
    `manager_buffer_capacity`); a goal every `goal_every` (c) steps over the
    observation dims `goal_dims` (None: all); `num_candidates` goals in the
    off-policy correction (the paper's 10). Defaults as the paper's (c = 10,
    300 x 300 networks, batch 100), the buffers smaller."""

    env: object
    num_envs: int = 1
    num_steps: int = 10
    gradient_steps: int = 10
    manager_gradient_steps: int = 1
    goal_every: int = 10
    buffer_capacity: int = 100_000
    manager_buffer_capacity: int = 10_000
    batch_size: int = 100
    learning_starts: int = 1_000
    hidden: tuple[int, ...] = (300, 300)
    activation: str = "relu"
    policy_delay: int = 2
    goal_dims: tuple[int, ...] | None = None
    off_policy_correction: bool = True
    num_candidates: int = 10
    _head: PolicyHead = dataclasses.field(init=False, repr=False, compare=False)

    hparam_domains = HIRO_HPARAM_DOMAINS

    def __post_init__(self):
        c = self.goal_every
        if not isinstance(c, int) or isinstance(c, bool) or c < 1:
            raise ValueError(
                f"goal_every (the goal horizon c) must be an integer >= 1, got {c!r}"
            )
        check_positive_ints(
            manager_gradient_steps=self.manager_gradient_steps,
            manager_buffer_capacity=self.manager_buffer_capacity,
        )
        n = self.num_candidates
        if not isinstance(n, int) or isinstance(n, bool) or n < 2:
            raise ValueError(
                f"num_candidates must be an integer >= 2 (the original goal and "
                f"the achieved change, then Gaussian draws), got {n!r}"
            )
        if not isinstance(self.off_policy_correction, bool):
            raise ValueError(
                "off_policy_correction must be True or False, got "
                f"{self.off_policy_correction!r}"
            )
        check_off_policy_config(self, discrete=False, policy_delay=self.policy_delay)
        windows = self.num_envs * self.num_steps
        if self.manager_buffer_capacity < windows:
            raise ValueError(
                f"manager_buffer_capacity ({self.manager_buffer_capacity}) must "
                f"hold one update's num_envs * num_steps = {windows} windows"
            )
        shape = self.env.observation_space(self.env.default_params).shape
        dims = check_goal_dims(self.goal_dims, math.prod(shape))
        object.__setattr__(self, "goal_dims", dims)

    @property
    def goal_dim(self) -> int:
        return len(self.goal_dims)

    @property
    def worker(self) -> TD3Core:
        return TD3Core(
            self.head.action_dim, self.hidden, self.activation, self.policy_delay
        )

    @property
    def manager(self) -> TD3Core:
        return TD3Core(self.goal_dim, self.hidden, self.activation, self.policy_delay)

    def default_hparams(self) -> HIROHParams:
        """Defaults as float32 scalars."""
        return float32_defaults(HIROHParams)

    def init(self, key, hparams: HIROHParams, env_params) -> HIROState:
        """Both levels' networks, targets and Adam states, empty replays and
        `num_envs` reset envs whose first step will draw a goal."""
        key_worker, key_manager, key_env = jax.random.split(key, 3)
        env = init_env_carry(key_env, self.env, env_params, self.num_envs, self.head)
        obs_dim, a_dim, g_dim = env.obs.shape[-1], self.head.action_dim, self.goal_dim
        worker = self.worker.init(
            key_worker, obs_dim + g_dim, level_hparams(hparams, "worker")
        )
        manager = self.manager.init(
            key_manager, obs_dim, level_hparams(hparams, "manager")
        )
        nets = [
            {"worker": w, "manager": m} for w, m in zip(worker, manager, strict=True)
        ]
        n, c = self.num_envs, self.goal_every
        goals = GoalCarry(
            goal=jnp.zeros((n, g_dim)),
            goal_action=jnp.zeros((n, g_dim)),
            period_step=jnp.zeros(n, jnp.int32),
            start_obs=jnp.zeros((n, obs_dim)),
            reward_sum=jnp.zeros(n),
            states=jnp.zeros((n, c, obs_dim)),
            actions=jnp.zeros((n, c, a_dim)),
        )
        return HIROState(
            *nets,
            env,
            goals,
            replay_init(self.buffer_capacity, obs_dim + g_dim, a_dim),
            parts.window_init(self.manager_buffer_capacity, obs_dim, g_dim, a_dim, c),
            jnp.asarray(hparams.exploration_noise, jnp.float32),
            jnp.asarray(hparams.manager_noise, jnp.float32),
            jnp.asarray(hparams.goal_range, jnp.float32),
            jnp.asarray(0, jnp.int32),
            jnp.asarray(False),
        )

    def choose_goal(self, key, state: HIROState, obs, deterministic: bool = False):
        """The manager's goals `[N, goal_dim]` (absolute units) for `obs: [N,
        obs_dim]`: its policy, plus its exploration noise unless
        `deterministic`."""
        actor = state.params["manager"]["actor"]
        if deterministic:
            unit = self.manager.policy(actor, obs)
        else:
            unit = self.manager.explore(key, actor, obs, state.manager_noise)
        return state.goal_range * unit

    def act_for_goal(self, key, state: HIROState, obs, goal, deterministic=False):
        """The worker's env actions `[N, ...]` for `obs: [N, obs_dim]` and
        goals `[N, goal_dim]`, inside the state's task bounds."""
        actor, inputs = (
            state.params["worker"]["actor"],
            jnp.concatenate([obs, goal], -1),
        )
        if deterministic:
            action = self.worker.policy(actor, inputs)
        else:
            action = self.worker.explore(key, actor, inputs, state.exploration_noise)
        action = unit_to_bounds(action, state.env.action_low, state.env.action_high)
        return action.reshape(action.shape[:-1] + self.head.env_shape)

    def act(self, key, state: HIROState, obs, deterministic: bool = False):
        """Env actions `[N, ...]` for `obs: [N, obs_dim]` at an episode's
        first step: a fresh goal (later steps: `act_step`, which keeps
        the goal for c steps)."""
        key_goal, key_act = jax.random.split(key)
        goal = self.choose_goal(key_goal, state, obs, deterministic)
        return self.act_for_goal(key_act, state, obs, goal, deterministic)

    def act_init(self, state: HIROState, obs):
        """`(previous obs, goal, step)` before the first step of episodes
        `obs: [N, obs_dim]` (the goal is chosen at step 0)."""
        del state
        goal = jnp.zeros((obs.shape[0], self.goal_dim), jnp.float32)
        return obs, goal, jnp.asarray(0, jnp.int32)

    def act_step(self, key, state: HIROState, carry, obs, deterministic=False):
        """`(actions [N, ...], carry)`: the manager's goal every c steps, the
        goal transition h(s, g, s') between, the worker's action for it."""
        previous, goal, t = carry
        key_goal, key_act = jax.random.split(key)
        fresh = self.choose_goal(key_goal, state, obs, deterministic)
        moved = parts.goal_transition(previous, goal, obs, self.goal_dims)
        goal = jnp.where(t % self.goal_every == 0, fresh, moved)
        action = self.act_for_goal(key_act, state, obs, goal, deterministic)
        return action, (obs, goal, t + 1)

    def _steps(self, key, core, nets, sample_fn, hparams, steps, update_count):
        """`steps` TD3 steps of one level on batches of `sample_fn(key)`."""
        delay = self.policy_delay
        first = (update_count % delay) * (steps % delay)

        def body(carry, xs):
            key, i = xs
            key_sample, key_step = jax.random.split(key)
            batch, extra = sample_fn(key_sample, carry)
            *new, aux = core.step(key_step, *carry, batch, hparams, first + i)
            return tuple(new), {**aux, **extra}

        keys = jax.random.split(key, steps)
        return jax.lax.scan(body, nets, (keys, jnp.arange(steps, dtype=jnp.int32)))

    def update(self, key, state: HIROState, hparams: HIROHParams, env_params):
        """One rollout of `num_envs x num_steps` into both replays, then the
        worker's and the manager's TD3 steps (discarded until
        `learning_starts`).

        Returns `(state, metrics)`: `finish_update`'s (extrinsic returns)
        with the worker's `train/critic_loss`, `train/actor_loss`, `train/q`,
        the manager's `train/manager_*` of the same, `train/intrinsic_reward`
        (mean over the rollout) and `train/relabel_original` /
        `train/relabel_achieved` (fractions of relabelled goals that are the
        original / the achieved change; 1 / 0 without the correction).
        """
        key_rollout, key_worker, key_manager = jax.random.split(key, 3)
        explore = env_steps(state.update_count, self.steps_per_update) < (
            self.learning_starts
        )
        env, goals, buffer, manager_buffer, stats = goal_rollout(
            self, key_rollout, state, hparams, env_params, explore
        )
        count = state.update_count + 1
        active = env_steps(count, self.steps_per_update) >= self.learning_starts
        nets = (state.params, state.target_params, state.opt_state)

        def worker_batch(key, _):
            return replay_sample(key, buffer, self.batch_size), {}

        worker_nets, worker_aux = self._steps(
            key_worker, self.worker, tuple(n["worker"] for n in nets), worker_batch,
            level_hparams(hparams, "worker"), self.gradient_steps, state.update_count,
        )  # fmt: skip

        def manager_batch(key, _):
            return manager_batch_of(
                self, key, manager_buffer, worker_nets[0]["actor"], hparams
            )

        manager_nets = tuple(n["manager"] for n in nets)
        manager_nets, manager_aux = self._steps(
            key_manager, self.manager, manager_nets, manager_batch,
            level_hparams(hparams, "manager"), self.manager_gradient_steps,
            state.update_count,
        )  # fmt: skip
        stepped = tuple(
            {"worker": w, "manager": m}
            for w, m in zip(worker_nets, manager_nets, strict=True)
        )
        trained = jax.tree_util.tree_map(
            lambda n, o: jnp.where(active, n, o), stepped, nets
        )
        losses = {name: value.mean() for name, value in worker_aux.items()}
        for name, value in manager_aux.items():
            prefixed = name.startswith("relabel_")
            losses[name if prefixed else f"manager_{name}"] = value.mean()
        losses["intrinsic_reward"] = stats.pop("intrinsic_reward")
        new_state = HIROState(
            *trained,
            env,
            goals,
            buffer,
            manager_buffer,
            jnp.asarray(hparams.exploration_noise, jnp.float32),
            jnp.asarray(hparams.manager_noise, jnp.float32),
            jnp.asarray(hparams.goal_range, jnp.float32),
            count,
            state.diverged,
        )
        return finish_update(state, new_state, stats, losses, self.steps_per_update)
