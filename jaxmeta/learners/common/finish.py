"""The end of every learner's update: the divergence guard and the metrics
every update reports, shared by on-policy (PPO, REINFORCE, TRPO) and
off-policy (SAC, TD3) learners."""

import jax.numpy as jnp

from jaxmeta.learners.base import env_steps, guard_update


def finish_update(old_state, new_state, stats, losses: dict, steps_per_update: int):
    """Guard `new_state` against `old_state` (see `guard_update`) and assemble
    the update's metrics.

    new_state already carries the incremented `update_count`; stats is the
    rollout's (`collect_rollout`); losses a dict of [] arrays. Returns
    `(state, metrics)` with `episode_return`, `episodes`, `env_steps` ([] int32,
    cumulative), `train/episode_length`, `train/<loss name>` for `losses`,
    `train/diverged` and `train/failure`.
    """
    state, failure = guard_update(old_state, new_state, losses, stats["env_finite"])
    metrics = {
        "episode_return": stats["episode_return"],
        "episodes": stats["episodes"],
        "env_steps": env_steps(new_state.update_count, steps_per_update),
        "train/episode_length": stats["episode_length"],
        **{f"train/{name}": value for name, value in losses.items()},
        "train/diverged": state.diverged.astype(jnp.float32),
        "train/failure": failure,
    }
    return state, metrics
