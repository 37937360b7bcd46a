"""What the replay-buffer learners share: in their static config (SAC, TD3,
DQN) the checks of the common fields, `steps_per_update` and the policy head;
in their update (SAC, TD3) the rollout into the buffer, with uniform random
actions before `learning_starts`, and the masked scan of gradient steps."""

import jax
import jax.numpy as jnp

from jaxmeta.learners.base import check_positive_ints, env_steps
from jaxmeta.learners.common.on_policy import checked_hidden
from jaxmeta.learners.common.policy import PolicyHead, policy_head_for
from jaxmeta.learners.common.replay import replay_add, replay_sample
from jaxmeta.learners.common.rollout import collect_rollout


def check_off_policy_config(config, discrete: bool, **more_positive_ints):
    """Check the fields every replay learner has (`num_envs`, `num_steps`,
    `gradient_steps`, `buffer_capacity`, `batch_size` positive ints,
    `learning_starts` >= 0, a buffer that holds one update, `hidden`), then
    `more_positive_ints`; set the checked `hidden` and the policy head `_head`
    on the frozen `config`, whose env must have `discrete` (True) or Box
    (False) actions. Raises ValueError naming the field."""
    check_positive_ints(
        num_envs=config.num_envs,
        num_steps=config.num_steps,
        gradient_steps=config.gradient_steps,
        buffer_capacity=config.buffer_capacity,
        batch_size=config.batch_size,
        **more_positive_ints,
    )
    starts = config.learning_starts
    if not isinstance(starts, int) or isinstance(starts, bool) or starts < 0:
        raise ValueError(
            f"learning_starts must be a non-negative integer, got {starts!r}"
        )
    per_update = config.num_envs * config.num_steps
    if config.buffer_capacity < per_update:
        raise ValueError(
            f"buffer_capacity ({config.buffer_capacity}) must hold one update's "
            f"num_envs * num_steps = {per_update} transitions"
        )
    hidden = checked_hidden(config.hidden, config.activation)
    object.__setattr__(config, "hidden", hidden)
    # Built once here, outside any trace: some envs (brax) build their action
    # space from jnp arrays, which are tracers when read inside jit.
    head = policy_head_for(config.env, config.env.default_params)
    object.__setattr__(config, "_head", head)
    if head.discrete != discrete:
        learner = type(config).__name__
        env = getattr(config.env, "name", type(config.env).__name__)
        if discrete:
            raise ValueError(
                f"{learner} needs a discrete action space; {env} has a "
                "continuous (Box) one"
            )
        raise ValueError(
            f"{learner} needs a continuous (Box) action space; {env} has "
            f"{head.action_dim} discrete actions"
        )


class ReplayLearnerConfig:
    """Mixin of a frozen replay-learner config with the fields checked by
    `check_off_policy_config`; its `__post_init__` calls that check."""

    @property
    def steps_per_update(self) -> int:
        """Env steps per update: `num_envs * num_steps`."""
        return self.num_envs * self.num_steps

    @property
    def head(self) -> PolicyHead:
        """Static action shapes (the bounds come from the env carry)."""
        return self._head


def unit_to_bounds(action, low, high):
    """Actions `[..., action_dim]` in [-1, 1] -> `low + (a + 1) / 2 * (high -
    low)`, in the task's bounds (`[action_dim]` each)."""
    return low + 0.5 * (action + 1.0) * (high - low)


def warmup_rollout(key, config, state, env_params, policy_fn):
    """`config.num_steps` from every env of `state.env`: `policy_fn`'s actions,
    or uniform random ones in the bounds while fewer than
    `config.learning_starts` env steps were taken before this update.

    policy_fn(key, obs `[N, obs_dim]`) -> (action `[N, action_dim]` in [-1, 1],
    env_action `[N, action_dim]`, log_prob `[N]`). Returns `(env_carry,
    trajectory, stats)` as `collect_rollout`; `trajectory.action` holds the
    [-1, 1] actions the replay buffer stores.
    """
    carry = state.env
    low, high = carry.action_low, carry.action_high
    explore = env_steps(state.update_count, config.steps_per_update) < (
        config.learning_starts
    )

    def rollout_fn(key, obs):
        key_policy, key_uniform = jax.random.split(key)
        action, env_action, log_prob = policy_fn(key_policy, obs)
        uniform = jax.random.uniform(key_uniform, action.shape, minval=-1.0)
        env_action = jnp.where(explore, unit_to_bounds(uniform, low, high), env_action)
        action = jnp.where(explore, uniform, action)
        log_prob = jnp.where(explore, -jnp.sum(jnp.log(high - low)), log_prob)
        env_action = env_action.reshape(obs.shape[:1] + config.head.env_shape)
        return action, env_action, log_prob, jnp.zeros(obs.shape[0])

    return collect_rollout(
        key, config.env, env_params, carry, config.num_steps, rollout_fn, False
    )


def replay_gradient_steps(key, config, state, env_params, policy_fn, step_fn):
    """The body every actor-critic replay update shares: a `warmup_rollout`
    into the buffer (truncations stored as non-terminal), then
    `config.gradient_steps` steps on uniform minibatches of `config.batch_size`,
    computed but discarded until `config.learning_starts` env steps.

    step_fn(key, (params, target_params, opt_state), batch, i) -> (params,
    target_params, opt_state, aux): one gradient step on `batch` (as
    `replay_sample`), `i` ([] int32) its index in this update; aux a dict of [].
    Returns `(env_carry, buffer, update_count, (params, target_params,
    opt_state), aux, stats)`: aux stacked `[gradient_steps]`, the count
    incremented, stats the rollout's.
    """
    key_rollout, key_steps = jax.random.split(key)
    env, traj, stats = warmup_rollout(key_rollout, config, state, env_params, policy_fn)
    per_update = config.steps_per_update
    flat = lambda x: x.reshape((per_update,) + x.shape[2:])  # noqa: E731
    buffer = replay_add(
        state.buffer,
        flat(traj.obs),
        flat(traj.action),
        flat(traj.reward),
        flat(traj.final_obs),
        flat(jnp.logical_and(traj.done, jnp.logical_not(traj.truncated))),
        flat(traj.done),
    )
    count = state.update_count + 1
    active = env_steps(count, per_update) >= config.learning_starts

    def gradient_step(carry, xs):
        key, i = xs
        key_sample, key_step = jax.random.split(key)
        batch = replay_sample(key_sample, buffer, config.batch_size)
        *new, aux = step_fn(key_step, carry, batch, i)
        return tuple(new), aux

    carry = (state.params, state.target_params, state.opt_state)
    steps = config.gradient_steps
    keys = jax.random.split(key_steps, steps)
    stepped, aux = jax.lax.scan(
        gradient_step, carry, (keys, jnp.arange(steps, dtype=jnp.int32))
    )
    # `active` holds for the whole update, so one mask after the scan does.
    trained = jax.tree_util.tree_map(
        lambda n, o: jnp.where(active, n, o), stepped, carry
    )
    return env, buffer, count, trained, aux, stats
