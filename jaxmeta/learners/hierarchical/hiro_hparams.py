"""HIRO's hyperparameters (traced, one TD3 set per level built from them)
and the check of its goal space."""

import jax
from flax import struct

from jaxmeta.learners.td3 import TD3_HPARAM_DOMAINS, TD3HParams
from jaxmeta.validation import NONNEGATIVE, POSITIVE


@struct.dataclass
class HIROHParams:
    learning_rate: jax.Array = 1e-4  # worker actor (the paper's, both levels)
    critic_learning_rate: jax.Array = 1e-3
    manager_learning_rate: jax.Array = 1e-4
    manager_critic_learning_rate: jax.Array = 1e-3
    gamma: jax.Array = 0.99  # both levels (per worker step / per manager goal)
    tau: jax.Array = 0.005
    exploration_noise: jax.Array = 0.1  # worker action noise std, in [-1, 1]
    manager_noise: jax.Array = 0.2  # goal noise std, in units of goal_range
    policy_noise: jax.Array = 0.2  # target smoothing, both levels
    noise_clip: jax.Array = 0.5
    goal_range: jax.Array = 1.5  # goals lie in [-goal_range, goal_range]^d
    manager_reward_scale: jax.Array = 0.1  # the paper's higher-level scaling
    candidate_std: jax.Array = 0.5  # of the drawn candidates, x goal_range


HIRO_HPARAM_DOMAINS = {
    **TD3_HPARAM_DOMAINS,
    "manager_learning_rate": POSITIVE,
    "manager_critic_learning_rate": POSITIVE,
    "manager_noise": TD3_HPARAM_DOMAINS["exploration_noise"],
    "goal_range": POSITIVE,
    "manager_reward_scale": NONNEGATIVE,
    "candidate_std": TD3_HPARAM_DOMAINS["exploration_noise"],
}


def level_hparams(hparams: HIROHParams, level: str) -> TD3HParams:
    """The TD3 hparams of `level` ("worker" or "manager")."""
    if level == "worker":
        rates = (hparams.learning_rate, hparams.critic_learning_rate)
        noise = hparams.exploration_noise
    else:
        rates = (hparams.manager_learning_rate, hparams.manager_critic_learning_rate)
        noise = hparams.manager_noise
    return TD3HParams(
        *rates, hparams.gamma, hparams.tau, noise, hparams.policy_noise,
        hparams.noise_clip,
    )  # fmt: skip


def check_goal_dims(goal_dims, obs_dim: int) -> tuple[int, ...]:
    """The goal dims as a tuple of distinct indices into `obs_dim` flat
    observation dims (None: all); ValueError otherwise (the wrong goal space
    is refused before anything compiles)."""
    if goal_dims is None:
        return tuple(range(obs_dim))
    dims = tuple(goal_dims) if isinstance(goal_dims, (list, tuple)) else None
    ok = dims and all(
        isinstance(d, int) and not isinstance(d, bool) and 0 <= d < obs_dim
        for d in dims
    )
    if not ok or len(set(dims)) != len(dims):
        raise ValueError(
            f"goal_dims must be distinct observation indices in [0, {obs_dim}) "
            f"(the env's observations have {obs_dim} dims; None: all of them), "
            f"got {goal_dims!r}"
        )
    return dims
