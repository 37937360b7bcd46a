"""h-DQN's pieces (`learners/hierarchical/hdqn.py`): the epsilons of an
update, the rollout (`num_envs` envs stepped `num_steps` times by the
controller under each env's current subgoal, a new subgoal drawn by the
meta-controller wherever the last one ended: reached, or the episode
ended) with the transitions of both levels for their replay buffers, and
the TD steps of both networks."""

import jax
import jax.numpy as jnp

from jaxmeta.learners.base import env_steps
from jaxmeta.learners.common.on_policy import clipped_adam
from jaxmeta.learners.common.q_learning import epsilon_greedy, linear_epsilon, td_step
from jaxmeta.learners.common.replay import replay_sample_n_step

ADAM_EPS = 1e-8


def goal_rollout(learner, key, state, env_params, epsilon, controller_eps):
    """Step `state.env` (N envs) `learner.num_steps` times.

    epsilon: [] the meta-controller's; controller_eps: [G] per subgoal.
    Returns `(env, goals, ctrl, meta, ended, stats)`: the new `EnvCarry`
    and `GoalCarry`; `ctrl` the controller's `replay_add` arguments (obs
    [T*N, S+G], action [T*N, 1], intrinsic reward, next_obs, terminated,
    done); `meta` the meta-controller's `replay_add_masked` arguments (obs
    [T*N, S], subgoal [T*N, 1], summed extrinsic reward, next_obs,
    terminated, valid = the subgoal ended there, done); `ended`
    {"attempts", "successes"} [G] subgoals ended and reached; `stats` as
    `collect_rollout`'s (extrinsic returns).
    """
    env, num_envs = learner.env, state.env.obs.shape[0]
    targets = jnp.asarray(learner.subgoals, jnp.int32)
    goal_hot = lambda g: jax.nn.one_hot(g, learner.num_goals)  # noqa: E731

    def step(carry, key):
        env_carry, goals = carry
        key_act, key_env, key_goal = jax.random.split(key, 3)
        states = learner.one_hot(env_carry.obs)
        q = learner.controller_q(state.params, states, goals.goal)
        action = epsilon_greedy(key_act, q, controller_eps[goals.goal])
        obs, env_state, reward, terminated, truncated, info = jax.vmap(
            env.step, in_axes=(0, 0, 0, None)
        )(jax.random.split(key_env, num_envs), env_carry.env_state, action, env_params)
        obs = jnp.reshape(obs, (num_envs, -1)).astype(jnp.float32)
        final = jnp.reshape(info["final_observation"], (num_envs, -1))
        final = learner.one_hot(final.astype(jnp.float32))
        reward = reward.astype(jnp.float32)
        done = terminated | truncated
        reached = jnp.argmax(final, -1) == targets[goals.goal]
        ends = reached | done
        extrinsic = goals.extrinsic + reward
        # The next subgoal, chosen where the controller acts next.
        next_states = learner.one_hot(obs)
        fresh = epsilon_greedy(
            key_goal, learner.meta_q(state.params, next_states), epsilon
        )
        new_goals = goals.replace(
            goal=jnp.where(ends, fresh, goals.goal),
            start_obs=jnp.where(ends[:, None], next_states, goals.start_obs),
            extrinsic=jnp.where(ends, 0.0, extrinsic),
        )
        ep_return = env_carry.episode_return + reward
        ep_length = env_carry.episode_length + 1
        new_env = env_carry.replace(
            obs=obs,
            env_state=env_state,
            episode_return=jnp.where(done, 0.0, ep_return),
            episode_length=jnp.where(done, 0.0, ep_length),
        )
        hot = goal_hot(goals.goal)
        ctrl = (
            jnp.concatenate([states, hot], -1),
            action[:, None],
            reached.astype(jnp.float32),
            jnp.concatenate([final, hot], -1),
            reached | terminated,
            ends,
        )
        meta = (
            goals.start_obs,
            goals.goal[:, None],
            extrinsic,
            final,
            terminated,
            ends,
            done,
        )
        counts = (
            jnp.sum(hot * ends[:, None], 0),
            jnp.sum(hot * reached[:, None], 0),
        )
        finite = jnp.all(jnp.isfinite(reward)) & jnp.all(jnp.isfinite(final))
        out = (ctrl, meta, counts, done, ep_return, ep_length, finite)
        return (new_env, new_goals), out

    (env_carry, goals), out = jax.lax.scan(
        step,
        (state.env, state.goals),
        jax.random.split(key, learner.num_steps),
    )
    ctrl, meta, counts, done, ep_returns, ep_lengths, finite = out
    flat = lambda x: x.reshape((-1,) + x.shape[2:])  # noqa: E731
    ctrl = tuple(flat(x) for x in ctrl)
    meta = tuple(flat(x) for x in meta)
    ended = {"attempts": counts[0].sum(0), "successes": counts[1].sum(0)}
    done = done.astype(jnp.float32)
    count = done.sum()
    safe = jnp.maximum(count, 1.0)
    stats = {
        "env_finite": jnp.all(finite),
        "episode_return": jnp.where(
            count > 0, (ep_returns * done).sum() / safe, jnp.nan
        ),
        "episodes": count,
        "episode_length": jnp.where(
            count > 0, (ep_lengths * done).sum() / safe, jnp.nan
        ),
    }
    return env_carry, goals, ctrl, meta, ended, stats


def epsilons(learner, state, hparams):
    """`(meta [], controller [G])` epsilons of `learner`'s next rollout."""
    before = env_steps(state.update_count, learner.steps_per_update)
    schedule = linear_epsilon(
        hparams.eps_start, hparams.eps_end, hparams.eps_decay_steps, before, 1
    )
    if learner.controller_eps == "success":
        rate = state.successes / jnp.maximum(state.attempts, 1.0)
        controller = jnp.clip(1.0 - rate, hparams.eps_end, hparams.eps_start)
    else:
        controller = jnp.full(learner.num_goals, schedule)
    warm = before < learner.learning_starts
    return jnp.where(warm, 1.0, schedule), jnp.where(warm, 1.0, controller)


def learn_both(learner, key, state, hparams, buffer, meta_buffer):
    """`learner.gradient_steps` TD steps of Q1 on D1 (`buffer`) and Q2 on D2
    (`meta_buffer`; Q2's wait while D2 is empty) from `state`. Returns
    `(params, opt_state, aux)`, aux means over the steps of []."""
    tx = clipped_adam(hparams, ADAM_EPS)
    ctrl_fn = lambda p, x: learner.q_net(learner.head.action_dim).apply(p, x)  # noqa: E731
    meta_fn = lambda p, x: learner.q_net(learner.num_goals).apply(p, x)  # noqa: E731
    meta_ready = meta_buffer.size > 0

    def gradient_step(carry, key):
        params, opt_state = carry
        key_ctrl, key_meta = jax.random.split(key)
        out, aux = {}, {}
        for name, fn, buf, k in (
            ("controller", ctrl_fn, buffer, key_ctrl),
            ("meta", meta_fn, meta_buffer, key_meta),
        ):
            batch = replay_sample_n_step(
                k, buf, learner.batch_size, 1, 1, hparams.gamma
            )
            out[name] = td_step(
                fn, tx, params[name], state.target_params[name],
                opt_state[name], batch, learner.loss, learner.double,
            )  # fmt: skip
        new_params = {k: v[0] for k, v in out.items()}
        new_opt = {k: v[1] for k, v in out.items()}
        keep = lambda new, old: jnp.where(meta_ready, new, old)  # noqa: E731
        new_params["meta"] = jax.tree_util.tree_map(
            keep, new_params["meta"], params["meta"]
        )
        new_opt["meta"] = jax.tree_util.tree_map(
            keep, new_opt["meta"], opt_state["meta"]
        )
        aux = {
            "td_loss": out["controller"][2]["td_loss"],
            "q_mean": out["controller"][2]["q_mean"],
            "meta_td_loss": jnp.where(meta_ready, out["meta"][2]["td_loss"], 0.0),
            "meta_q_mean": jnp.where(meta_ready, out["meta"][2]["q_mean"], 0.0),
        }
        return (new_params, new_opt), aux

    (params, opt_state), aux = jax.lax.scan(
        gradient_step,
        (state.params, state.opt_state),
        jax.random.split(key, learner.gradient_steps),
    )
    return params, opt_state, {k: v.mean() for k, v in aux.items()}
