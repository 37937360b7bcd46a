"""N fresh episodes of one policy on one task, as the MAML family samples them.

Every call resets `num_episodes` envs and steps them `horizon` times; only
each env's first episode counts (`valid`), so a batch holds exactly N
trajectories of at most `horizon` steps (MAML's "20 trajectories per task").
The batch is a constant of every surrogate built on it: gradients are stopped
at the samples (actions, rewards, observations), and flow only through the
log-probabilities the surrogates recompute.
"""

import jax
import jax.numpy as jnp
from flax import struct

from jaxmeta.learners.common.episodic import first_episode_mask
from jaxmeta.learners.common.policy import PolicyHead
from jaxmeta.learners.common.rollout import collect_rollout, init_env_carry


@struct.dataclass
class Episodes:
    obs: jax.Array  # [T, N, obs_dim], the observation each action was taken in
    action: jax.Array  # [T, N] int or [T, N, action_dim], unclipped
    reward: jax.Array  # [T, N]
    valid: jax.Array  # [T, N] float: 1 on each env's first episode, else 0
    log_prob: jax.Array  # [T, N] of the action under the sampling policy


def sample_episodes(
    key, env, env_params, head: PolicyHead, actor, actor_params, num_episodes, horizon
) -> Episodes:
    """Sample `num_episodes` episodes of `actor` (a flax module; its output is
    `head`'s distribution) on the task `env_params`.

    Returns `Episodes` with leaves `[horizon, num_episodes, ...]`, gradients
    stopped. Continuous actions are clipped to the task's bounds in the env
    only (the stored action is the sampled one).
    """
    key_reset, key_roll = jax.random.split(key)
    carry = init_env_carry(key_reset, env, env_params, num_episodes, head)

    def policy_fn(key, obs):
        action, log_prob = head.sample(key, actor.apply(actor_params, obs))
        env_action = head.to_env(action, carry.action_low, carry.action_high)
        return action, env_action, log_prob, jnp.zeros(obs.shape[0])

    _, traj, _ = collect_rollout(
        key_roll, env, env_params, carry, horizon, policy_fn, False
    )
    valid = first_episode_mask(traj.done).astype(jnp.float32)
    episodes = Episodes(traj.obs, traj.action, traj.reward, valid, traj.log_prob)
    return jax.lax.stop_gradient(episodes)


def mean_return(episodes: Episodes) -> jax.Array:
    """[] mean undiscounted return of the batch's N episodes."""
    return jnp.mean(jnp.sum(episodes.reward * episodes.valid, axis=0))


def episode_log_prob(head: PolicyHead, actor, actor_params, episodes: Episodes):
    """[T, N] log-probabilities of the batch's actions under `actor_params`
    (differentiable in them; 0 on padding steps)."""
    out = actor.apply(actor_params, episodes.obs)
    return head.log_prob(out, episodes.action) * episodes.valid
