"""h-DQN (Kulkarni et al. 2016): a meta-controller DQN over subgoals and a
controller DQN over primitive actions conditioned on the subgoal.

The meta-controller sees the one-hot state s and picks a subgoal g (a state
index, from `subgoals`); the controller sees (s, one-hot g) and acts until
it reaches g (intrinsic reward 1, its sub-episode ends: no bootstrap) or the
env's episode ends (intrinsic 0). The meta-controller then learns from the
SMDP transition (s0, g, F, s_N), F the extrinsic reward summed over the
subgoal's N steps, with the paper's target F + gamma max_g' Q2(s_N, g')
(gamma once, not gamma^N), cut at a termination. Each has its own replay
buffer (D1 for the controller, D2 for the meta-controller) and target
network; both learn by `learners/common/q_learning.td_step`.

Per update: `num_envs x num_steps` env steps, then `gradient_steps` TD
steps of each network (none until `learning_starts` env steps; the meta
one also waits for D2 to hold a transition), then the target step every
`target_update_every` updates. The paper takes one step per env step.

Exploration: the meta epsilon falls linearly from `eps_start` to `eps_end`
over `eps_decay_steps` env steps (the paper's MDP: 1 to 0.1 over 50,000).
The controller's epsilon per subgoal is that schedule (`controller_eps=
"linear"`, what the paper ran on its MDP) or, as in its Algorithm 1,
adapted to the success rate of reaching the subgoal so far (`"success"`:
clip(1 - rate_g, eps_end, eps_start)). Before `learning_starts`, both are 1.

Observations: a state index (Discrete) or a one-hot vector (Box [S]);
networks see one-hot inputs and "reached" compares the state index.
"""

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces

from jaxmeta.learners.base import env_steps
from jaxmeta.learners.common.critics import polyak_update
from jaxmeta.learners.common.finish import finish_update
from jaxmeta.learners.common.off_policy import (
    ReplayLearnerConfig,
    check_off_policy_config,
)
from jaxmeta.learners.common.on_policy import clipped_adam, float32_defaults
from jaxmeta.learners.common.q_learning import LOSSES, epsilon_greedy
from jaxmeta.learners.common.replay import (
    ReplayBuffer,
    replay_add,
    replay_add_masked,
    replay_init,
)
from jaxmeta.learners.common.rollout import EnvCarry, init_env_carry
from jaxmeta.learners.hierarchical.call_and_return import (
    call_and_return_step,
    option_carry_init,
)
from jaxmeta.learners.hierarchical.hdqn_parts import (
    ADAM_EPS,
    epsilons,
    goal_rollout,
    learn_both,
)
from jaxmeta.nets.mlp import MLP
from jaxmeta.validation import POSITIVE, Domain

CONTROLLER_EPS = ("linear", "success")


@struct.dataclass
class HDQNHParams:
    learning_rate: jax.Array = 2.5e-4  # both networks (the paper's)
    gamma: jax.Array = 0.99
    tau: jax.Array = 1.0  # target step toward the online nets (1: hard copy)
    eps_start: jax.Array = 1.0
    eps_end: jax.Array = 0.1
    eps_decay_steps: jax.Array = 50_000.0  # env steps of the member
    max_grad_norm: jax.Array = 10.0


@struct.dataclass
class GoalCarry:
    goal: jax.Array  # [N] int32, index into `subgoals`
    start_obs: jax.Array  # [N, S] one-hot state the subgoal was chosen in
    extrinsic: jax.Array  # [N] extrinsic reward summed since then


@struct.dataclass
class HDQNState:
    params: dict  # {"meta": Q2, "controller": Q1}
    target_params: dict
    opt_state: dict
    env: EnvCarry
    goals: GoalCarry
    buffer: ReplayBuffer  # D1: obs [C, S + G], action [C, 1]
    meta_buffer: ReplayBuffer  # D2: obs [C2, S], action (subgoal) [C2, 1]
    attempts: jax.Array  # [G] float32, subgoals ended, per subgoal
    successes: jax.Array  # [G] float32, of which reached
    epsilon: jax.Array  # [] meta epsilon of the latest rollout
    controller_epsilon: jax.Array  # [G]
    update_count: jax.Array  # [] int32
    diverged: jax.Array  # [] bool


@dataclasses.dataclass(frozen=True)
class HDQN(ReplayLearnerConfig):
    """Static h-DQN config. `env`: Discrete actions, state-index or one-hot
    observations; `subgoals`: state indices the meta-controller picks from
    (None: every state); D1 of `buffer_capacity`, D2 of
    `meta_buffer_capacity`; the rest as `DQN`."""

    env: object
    subgoals: tuple[int, ...] | None = None
    num_envs: int = 1
    num_steps: int = 4
    gradient_steps: int = 1
    buffer_capacity: int = 50_000
    meta_buffer_capacity: int = 10_000
    batch_size: int = 32
    learning_starts: int = 1_000
    target_update_every: int = 250
    double: bool = True
    loss: str = "huber"
    hidden: tuple[int, ...] = (64, 64)
    activation: str = "relu"
    controller_eps: str = "linear"
    _head: object = dataclasses.field(init=False, repr=False, compare=False)

    hparam_domains = {
        "learning_rate": POSITIVE,
        "gamma": Domain(0.0, 1.0),
        "tau": Domain(0.0, 1.0, open_minimum=True),
        "eps_start": Domain(0.0, 1.0),
        "eps_end": Domain(0.0, 1.0),
        "eps_decay_steps": Domain(0.0, float("inf"), open_maximum=True),
        "max_grad_norm": POSITIVE,
    }

    def __post_init__(self):
        check_off_policy_config(
            self,
            discrete=True,
            target_update_every=self.target_update_every,
            meta_buffer_capacity=self.meta_buffer_capacity,
        )
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if not isinstance(self.double, bool):
            raise ValueError(f"double must be true or false, got {self.double!r}")
        if self.controller_eps not in CONTROLLER_EPS:
            raise ValueError(
                f"controller_eps must be one of {CONTROLLER_EPS}, got "
                f"{self.controller_eps!r}"
            )
        if self.meta_buffer_capacity < self.num_envs * self.num_steps:
            raise ValueError(
                f"meta_buffer_capacity ({self.meta_buffer_capacity}) must hold one "
                f"update's num_envs * num_steps = {self.steps_per_update} "
                "transitions"
            )
        num = self.num_states
        goals = tuple(range(num)) if self.subgoals is None else self.subgoals
        if not isinstance(goals, tuple | list) or not goals:
            raise ValueError(f"subgoals must be a non-empty list, got {goals!r}")
        for g in goals:
            if isinstance(g, bool) or not isinstance(g, int) or not 0 <= g < num:
                raise ValueError(
                    f"subgoals must be state indices in 0..{num - 1} (the env's "
                    f"{num} states), got {g!r}"
                )
        if len(set(goals)) != len(goals):
            raise ValueError(f"subgoals must be distinct, got {list(goals)}")
        object.__setattr__(self, "subgoals", tuple(goals))

    @property
    def num_states(self) -> int:
        """S: the env's Discrete observation count or one-hot length."""
        space = self.env.observation_space(self.env.default_params)
        if isinstance(space, spaces.Discrete):
            return int(space.n)
        if isinstance(space, spaces.Box) and len(space.shape) == 1:
            return int(space.shape[0])
        name = getattr(self.env, "name", type(self.env).__name__)
        raise ValueError(
            f"HDQN needs state-index (Discrete) or one-hot (Box [S]) observations "
            f"(e.g. StochasticChain-v0); {name} observes {space}"
        )

    @property
    def num_goals(self) -> int:
        return len(self.subgoals)

    def one_hot(self, obs):
        """`obs: [N, 1]` indices or `[N, S]` one-hot -> float32 `[N, S]`."""
        if obs.shape[-1] == self.num_states and self.num_states > 1:
            return obs.astype(jnp.float32)
        return jax.nn.one_hot(obs[..., 0].astype(jnp.int32), self.num_states)

    def q_net(self, out_dim: int):
        return MLP(self.hidden, out_dim, self.activation, 1.0)

    def meta_q(self, params, states):
        """Q2 `[N, G]` of one-hot `states: [N, S]`."""
        return self.q_net(self.num_goals).apply(params["meta"], states)

    def controller_q(self, params, states, goal):
        """Q1 `[N, A]` of `states: [N, S]` and subgoal indices `goal: [N]`."""
        x = jnp.concatenate([states, jax.nn.one_hot(goal, self.num_goals)], -1)
        return self.q_net(self.head.action_dim).apply(params["controller"], x)

    def default_hparams(self) -> HDQNHParams:
        """Defaults as float32 scalars (the paper's rate and schedule)."""
        return float32_defaults(HDQNHParams)

    def init(self, key, hparams: HDQNHParams, env_params) -> HDQNState:
        """Both networks (targets equal), Adam states, empty D1 and D2, and
        `num_envs` reset envs with a first subgoal drawn uniformly."""
        key_meta, key_ctrl, key_env, key_goal = jax.random.split(key, 4)
        env = init_env_carry(key_env, self.env, env_params, self.num_envs, self.head)
        states = self.one_hot(env.obs)
        goal_in = jnp.zeros((1, self.num_states + self.num_goals))
        params = {
            "meta": self.q_net(self.num_goals).init(key_meta, states[:1]),
            "controller": self.q_net(self.head.action_dim).init(key_ctrl, goal_in),
        }
        tx = clipped_adam(hparams, ADAM_EPS)
        goal = jax.random.randint(key_goal, (self.num_envs,), 0, self.num_goals)
        zeros = jnp.zeros(self.num_goals, jnp.float32)
        return HDQNState(
            params,
            params,
            {k: tx.init(v) for k, v in params.items()},
            env,
            GoalCarry(goal, states, jnp.zeros(self.num_envs)),
            replay_init(self.buffer_capacity, goal_in.shape[-1], 1, jnp.int32),
            replay_init(self.meta_buffer_capacity, self.num_states, 1, jnp.int32),
            zeros,
            zeros,
            jnp.asarray(hparams.eps_start, jnp.float32),
            jnp.full(self.num_goals, hparams.eps_start, jnp.float32),
            jnp.asarray(0, jnp.int32),
            jnp.asarray(False),
        )

    def choose_goal(self, key, state: HDQNState, obs, deterministic: bool = False):
        """Subgoal indices `[N]` (into `subgoals`) for `obs: [N, ...]`:
        epsilon-greedy on Q2 with the state's meta epsilon, or greedy."""
        q = self.meta_q(state.params, self.one_hot(obs))
        if deterministic:
            return jnp.argmax(q, -1)
        return epsilon_greedy(key, q, state.epsilon)

    def act_for_goal(self, key, state, obs, goal, deterministic: bool = False):
        """Actions `[N]` of the controller for `obs: [N, ...]` and subgoal
        indices `goal: [N]` (epsilon-greedy with the subgoal's epsilon)."""
        q = self.controller_q(state.params, self.one_hot(obs), goal)
        if deterministic:
            return jnp.argmax(q, -1)
        return epsilon_greedy(key, q, state.controller_epsilon[goal])

    def act(self, key, state: HDQNState, obs, deterministic: bool = False):
        """Actions `[N]` for `obs: [N, ...]` at an episode's first step: a
        fresh subgoal (later steps: `act_step`, which keeps it until it
        is reached)."""
        key_goal, key_act = jax.random.split(key)
        goal = self.choose_goal(key_goal, state, obs, deterministic)
        return self.act_for_goal(key_act, state, obs, goal, deterministic)

    def act_init(self, state: HDQNState, obs):
        """`(subgoal [N], choose [N] bool)` before the first step of
        episodes `obs: [N, ...]` (a subgoal is chosen at step 0)."""
        del state
        return option_carry_init(obs.shape[0])

    def act_step(self, key, state: HDQNState, carry, obs, deterministic=False):
        """`(actions [N], carry)`: the controller acts for its subgoal until
        the state is the subgoal's; then (and first) the meta-controller
        picks the next one (call-and-return)."""
        here = jnp.argmax(self.one_hot(obs), -1)
        targets = jnp.asarray(self.subgoals, jnp.int32)
        return call_and_return_step(
            key, carry,
            lambda _, goal: here == targets[goal],
            lambda key: self.choose_goal(key, state, obs, deterministic),
            lambda key, goal: self.act_for_goal(key, state, obs, goal, deterministic),
        )  # fmt: skip

    def update(self, key, state: HDQNState, hparams: HDQNHParams, env_params):
        """One rollout of `num_envs x num_steps` with subgoals into D1 and
        D2, `gradient_steps` TD steps of each network (none before
        `learning_starts`), then the target step every `target_update_every`
        updates.

        Returns `(state, metrics)`: the metrics of `finish_update` (extrinsic
        episode returns) with `train/td_loss`, `train/q_mean` (controller),
        `train/meta_td_loss`, `train/meta_q_mean`, `train/epsilon` (meta),
        `train/controller_epsilon` (mean over subgoals) and
        `train/goal_success` (the fraction of subgoals ended this update
        that were reached; 0 if none ended).
        """
        key_rollout, key_steps = jax.random.split(key)
        epsilon, controller_eps = epsilons(self, state, hparams)
        rolled = goal_rollout(
            self, key_rollout, state, env_params, epsilon, controller_eps
        )
        env, goals, ctrl, meta, ended, stats = rolled
        buffer = replay_add(state.buffer, *ctrl)
        meta_buffer = replay_add_masked(state.meta_buffer, *meta)
        attempts = state.attempts + ended["attempts"]
        successes = state.successes + ended["successes"]
        count = state.update_count + 1
        active = env_steps(count, self.steps_per_update) >= self.learning_starts

        def learn():
            params, opt_state, aux = learn_both(
                self, key_steps, state, hparams, buffer, meta_buffer
            )
            # tau 0 leaves the targets exactly as they were.
            tau = jnp.where(count % self.target_update_every == 0, hparams.tau, 0.0)
            target = polyak_update(state.target_params, params, tau)
            return params, target, opt_state, aux

        def wait():
            aux = jax.eval_shape(learn)[-1]
            zeros = {k: jnp.zeros(v.shape, v.dtype) for k, v in aux.items()}
            return state.params, state.target_params, state.opt_state, zeros

        params, target, opt_state, losses = jax.lax.cond(active, learn, wait)
        tried = ended["attempts"].sum()
        losses["epsilon"] = epsilon
        losses["controller_epsilon"] = controller_eps.mean()
        losses["goal_success"] = ended["successes"].sum() / jnp.maximum(tried, 1.0)
        new_state = HDQNState(
            params, target, opt_state, env, goals, buffer, meta_buffer, attempts,
            successes, epsilon, controller_eps, count, state.diverged,
        )  # fmt: skip
        new_state, metrics = finish_update(
            state, new_state, stats, losses, self.steps_per_update
        )
        # As DQN: a rejected member never learns again; keep the new buffers
        # rather than copy both every update.
        return new_state.replace(buffer=buffer, meta_buffer=meta_buffer), metrics
