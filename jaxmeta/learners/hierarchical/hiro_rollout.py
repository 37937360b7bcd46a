"""HIRO's rollout: `num_steps` steps of every env with the manager's goals
carried between steps, written to the worker's replay (one transition per
step, observation (s, g)) and to the manager's window replay (one per goal
period that ended: after c steps, or earlier at an episode end)."""

import jax
import jax.numpy as jnp
from flax import struct

from jaxmeta.learners.common.off_policy import unit_to_bounds
from jaxmeta.learners.common.replay import replay_add
from jaxmeta.learners.hierarchical import hiro_parts as parts


@struct.dataclass
class GoalCarry:
    goal: jax.Array  # [N, goal_dim] the current goal (after goal transitions)
    goal_action: jax.Array  # [N, goal_dim] the period's goal, in goal units
    period_step: jax.Array  # [N] int32, steps taken in the period (0: new goal)
    start_obs: jax.Array  # [N, obs_dim] s_t of the period
    reward_sum: jax.Array  # [N] env rewards of the period so far
    states: jax.Array  # [N, c, obs_dim] the period's states so far
    actions: jax.Array  # [N, c, action_dim] the worker's actions, in [-1, 1]


def _episode_stats(done, ep_returns, ep_lengths, finite):
    """Mean return and length of the episodes that ended (NaN if none)."""
    done = done.astype(jnp.float32)
    count = done.sum()
    safe = jnp.maximum(count, 1.0)
    return {
        "env_finite": jnp.all(finite),
        "episode_return": jnp.where(
            count > 0, (ep_returns * done).sum() / safe, jnp.nan
        ),
        "episodes": count,
        "episode_length": jnp.where(
            count > 0, (ep_lengths * done).sum() / safe, jnp.nan
        ),
    }


def goal_rollout(learner, key, state, hparams, env_params, explore):
    """Step `state.env`'s N envs for `learner.num_steps` with HIRO's two
    policies (uniform random goals and actions while `explore`, [] bool).

    Returns `(env_carry, goal_carry, worker_buffer, manager_buffer, stats)`;
    stats as `collect_rollout`'s plus `intrinsic_reward` (mean worker reward).
    """
    env, dims, c = learner.env, learner.goal_dims, learner.goal_every
    low, high = state.env.action_low, state.env.action_high
    num_envs = state.env.obs.shape[0]
    manager, worker = learner.manager, learner.worker
    goal_range = hparams.goal_range
    params = state.params

    def step(carry, key):
        env_carry, goals = carry
        keys = jax.random.split(key, 5)
        obs = env_carry.obs
        new = goals.period_step == 0
        unit = manager.explore(
            keys[0], params["manager"]["actor"], obs, hparams.manager_noise
        )
        uniform = jax.random.uniform(keys[1], unit.shape, minval=-1.0)
        unit = jnp.where(explore, uniform, unit)
        fresh = lambda a, b: jnp.where(  # noqa: E731
            jnp.reshape(new, new.shape + (1,) * (a.ndim - 1)), a, b
        )
        goal = fresh(goal_range * unit, goals.goal)
        goal_action = fresh(unit, goals.goal_action)
        start_obs = fresh(obs, goals.start_obs)
        reward_sum = jnp.where(new, 0.0, goals.reward_sum)
        inputs = jnp.concatenate([obs, goal], axis=-1)
        action = worker.explore(
            keys[2], params["worker"]["actor"], inputs, hparams.exploration_noise
        )
        uniform = jax.random.uniform(keys[3], action.shape, minval=-1.0)
        action = jnp.where(explore, uniform, action)
        env_action = unit_to_bounds(action, low, high)
        env_action = env_action.reshape((num_envs,) + learner.head.env_shape)
        next_obs, env_state, reward, terminated, truncated, info = jax.vmap(
            env.step, in_axes=(0, 0, 0, None)
        )(jax.random.split(keys[4], num_envs), env_carry.env_state, env_action,
          env_params)  # fmt: skip
        next_obs = next_obs.reshape(num_envs, -1).astype(jnp.float32)
        final = info["final_observation"].reshape(num_envs, -1).astype(jnp.float32)
        reward = reward.astype(jnp.float32)
        done = jnp.logical_or(terminated, truncated)
        next_goal = parts.goal_transition(obs, goal, final, dims)
        worker_row = {
            "obs": inputs,
            "action": action,
            "reward": parts.intrinsic_reward(obs, goal, final, dims),
            "next_obs": jnp.concatenate([final, next_goal], axis=-1),
            "terminated": terminated,
            "done": done,
        }
        k = goals.period_step
        rows = jnp.arange(num_envs)
        states = goals.states.at[rows, k].set(obs)
        actions = goals.actions.at[rows, k].set(action)
        reward_sum = reward_sum + reward
        period_step = k + 1
        ends = jnp.logical_or(period_step == c, done)
        manager_row = {
            "obs": start_obs,
            "goal": goal_action,
            "reward": reward_sum,
            "next_obs": final,
            "terminated": terminated,
            "states": states,
            "actions": actions,
            "valid": jnp.arange(c) < period_step[:, None],
            "keep": ends,
        }
        ep_return = env_carry.episode_return + reward
        ep_length = env_carry.episode_length + 1
        env_carry = env_carry.replace(
            obs=next_obs,
            env_state=env_state,
            episode_return=jnp.where(done, 0.0, ep_return),
            episode_length=jnp.where(done, 0.0, ep_length),
        )
        goals = GoalCarry(
            next_goal, goal_action, jnp.where(ends, 0, period_step), start_obs,
            reward_sum, states, actions,
        )  # fmt: skip
        finite = jnp.all(jnp.isfinite(reward)) & jnp.all(jnp.isfinite(final))
        out = (worker_row, manager_row, done, ep_return, ep_length, finite)
        return (env_carry, goals), out

    (env_carry, goals), out = jax.lax.scan(
        step, (state.env, state.goals), jax.random.split(key, learner.num_steps)
    )
    worker_rows, manager_rows, done, ep_returns, ep_lengths, finite = out
    flat = lambda x: x.reshape((-1,) + x.shape[2:])  # noqa: E731
    w = {name: flat(value) for name, value in worker_rows.items()}
    buffer = replay_add(
        state.buffer, w["obs"], w["action"], w["reward"], w["next_obs"],
        w["terminated"], w["done"],
    )  # fmt: skip
    m = {name: flat(value) for name, value in manager_rows.items()}
    manager_buffer = parts.window_add_masked(state.manager_buffer, m, m["keep"])
    stats = _episode_stats(done, ep_returns, ep_lengths, finite)
    stats["intrinsic_reward"] = jnp.mean(worker_rows["reward"])
    return env_carry, goals, buffer, manager_buffer, stats


def manager_batch_of(learner, key, manager_buffer, worker_actor, hparams):
    """A manager TD3 batch (as `replay_sample`; goals in [-1, 1] units,
    rewards scaled by `manager_reward_scale`) from the window replay, goals
    relabelled by the off-policy correction with the current `worker_actor`
    if `learner.off_policy_correction`. Returns `(batch, extra)`, extra the
    [] fractions `relabel_original` / `relabel_achieved` of chosen goals."""
    key_sample, key_relabel = jax.random.split(key)
    rows = parts.window_sample(key_sample, manager_buffer, learner.batch_size)
    goal = rows["goal"] * hparams.goal_range
    if learner.off_policy_correction:
        goal, choice = parts.relabel_goals(
            key_relabel, lambda x: learner.worker.policy(worker_actor, x),
            {**rows, "goal": goal}, learner.goal_dims, hparams.goal_range,
            hparams.candidate_std, hparams.exploration_noise,
            learner.num_candidates,
        )  # fmt: skip
    else:
        choice = jnp.zeros(learner.batch_size, jnp.int32)
    batch = {
        "obs": rows["obs"],
        "action": goal / hparams.goal_range,
        "reward": rows["reward"] * hparams.manager_reward_scale,
        "next_obs": rows["next_obs"],
        "terminated": rows["terminated"],
    }
    extra = {
        "relabel_original": jnp.mean(choice == 0),
        "relabel_achieved": jnp.mean(choice == 1),
    }
    return batch, extra
