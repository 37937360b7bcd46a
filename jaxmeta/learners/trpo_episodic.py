"""TRPO / xTRPO on batches of N whole episodes, with per-step features of
its batches (seeds/002's metafeatures): the inner learner of the
trust-region meta-MDP.

The meta-MDP's step t is: the N trajectories B_t of the current policy
pi_t give the metafeatures phi_t (with B_{t-1}); the controller picks the
bound lambda_t from phi_t; one (x)TRPO step on B_t with max_kl = lambda_t
gives pi_{t+1}; its N trajectories B_{t+1} give J_{t+1} and phi_{t+1}. So,
unlike `TRPO`, each update *ends* with the rollout: the state keeps B_t, the
batch the next step is taken on, and `initial_metrics` gives the controller
phi_0 and J_0 before the first update (see `Controlled`).

Each rollout resets all `num_envs` = N envs and steps `num_steps` times; only
the first episode of each env counts (later steps are padding, weight 0), so
J is the mean return of exactly N episodes. `num_steps` should be at least
the env's episode length (an episode still running at the end is cut there
and bootstrapped from the critic, as a truncation). At init two batches of
pi_0 are drawn, so phi_0 compares two independent samples of the same
policy (its KL terms estimate 0).

`features` is a static callable `(key, batch_t, batch_prev, returns_t,
returns_prev) -> [F]` with `names` (F metric names) and `check(episodes)`,
e.g. `control.metafeatures.MetaFeatures()` (learners do not import control:
the caller passes it); None computes none.

Metrics: `episode_return` = J_{t+1} (mean of the N returns), and one metric
per feature name (the metafeatures' `meta/<name>`).
"""

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

from jaxmeta.learners.common.finish import finish_update
from jaxmeta.learners.common.rollout import EnvCarry, Trajectory, init_env_carry
from jaxmeta.learners.trpo import TRPO, TRPOHParams


@struct.dataclass
class EpisodicTRPOState:
    params: dict  # {"actor", "critic"}
    opt_state: object  # the critic's Adam state
    env: EnvCarry  # the envs after the last rollout
    update_count: jax.Array  # [] int32
    diverged: jax.Array  # [] bool
    batch: Trajectory  # [T, N] the current policy's rollout, B_t
    valid: jax.Array  # [T, N] bool: step of each env's first episode
    returns: jax.Array  # [N] returns of those episodes
    features: jax.Array  # [F] phi_t ([0] without features)


def first_episode_mask(done):
    """[T, N] bool: True up to and including each env's first `done`."""
    before = jnp.cumprod(1.0 - done.astype(jnp.float32), axis=0)
    ones = jnp.ones_like(before[:1])
    return jnp.concatenate([ones, before[:-1]], axis=0) > 0


def transitions(traj: Trajectory, valid) -> dict:
    """{"obs", "action", "next_obs": [T*N, ...], "valid": [T*N]} of a rollout."""
    size = valid.size

    def flat(x):
        return x.reshape(size, -1).astype(jnp.float32)

    return {
        "obs": flat(traj.obs),
        "action": flat(traj.action),
        "next_obs": flat(traj.final_obs),
        "valid": valid.reshape(size),
    }


@dataclasses.dataclass(frozen=True)
class EpisodicTRPO(TRPO):
    """`TRPO` (variant "trpo" or "xtrpo") whose update is one meta-step.

    num_envs: N, the episodes per step; num_steps: the rollout length (>=
    the episode length); features: see the module doc (static).
    """

    num_envs: int = 64
    num_steps: int = 200
    variant: str = "xtrpo"
    features: object = None

    def __post_init__(self):
        super().__post_init__()
        if self.normalize_obs:
            raise ValueError(
                "normalize_obs must be False for EpisodicTRPO: its features "
                "compare raw state distributions across steps"
            )
        if self.features is not None:
            for needed in ("names", "check"):
                if not hasattr(self.features, needed):
                    raise ValueError(
                        f"features must be callable with .names and .check "
                        f"(e.g. MetaFeatures()), got {self.features!r}"
                    )
            self.features.check(self.num_envs)  # >= 1 transition per episode

    @property
    def feature_names(self) -> tuple[str, ...]:
        return () if self.features is None else tuple(self.features.names)

    def _episodes(self, key, state, env_params):
        """N fresh episodes of the state's policy: `(env, traj, valid,
        returns [N], finite)`."""
        key_reset, key_roll = jax.random.split(key)
        fresh = init_env_carry(
            key_reset, self.env, env_params, self.num_envs, self.head
        ).replace(obs_stats=state.env.obs_stats)
        env, traj, stats = self._rollout(
            key_roll, state.replace(env=fresh), env_params, True
        )
        valid = first_episode_mask(traj.done)
        returns = jnp.sum(jnp.where(valid, traj.reward, 0.0), axis=0)
        return env, traj, valid, returns, stats["env_finite"]

    def _features(self, key, traj, valid, returns, prev_traj, prev_valid, prev_ret):
        if self.features is None:
            return jnp.zeros(0, jnp.float32)
        return self.features(
            key,
            transitions(traj, valid),
            transitions(prev_traj, prev_valid),
            returns,
            prev_ret,
        ).astype(jnp.float32)

    def init(self, key, hparams: TRPOHParams, env_params) -> EpisodicTRPOState:
        """Networks, the critic's optimizer, and two independent batches of
        the initial policy: B_0 is kept, phi_0 compares it with the other."""
        key_init, key_prev, key_now, key_feat = jax.random.split(key, 4)
        base = super().init(key_init, hparams, env_params)
        _, prev, prev_valid, prev_ret, _ = self._episodes(key_prev, base, env_params)
        env, traj, valid, returns, _ = self._episodes(key_now, base, env_params)
        features = self._features(
            key_feat, traj, valid, returns, prev, prev_valid, prev_ret
        )
        return EpisodicTRPOState(
            base.params,
            base.opt_state,
            env,
            base.update_count,
            base.diverged,
            traj,
            valid,
            returns,
            features,
        )

    def initial_metrics(self, state: EpisodicTRPOState) -> dict:
        """J_0 and phi_0, the signals the controller reads before update 0."""
        metrics = {"episode_return": jnp.mean(state.returns)}
        metrics.update(dict(zip(self.feature_names, state.features, strict=True)))
        return metrics

    def update(self, key, state: EpisodicTRPOState, hparams, env_params):
        """One step on B_t with max_kl = hparams.max_kl, then B_{t+1}.

        Returns `(state, metrics)`: TRPO's metrics with `episode_return` =
        J_{t+1}, `episodes` = N, `train/return_std` and phi_{t+1} by name.
        """
        key_roll, key_feat = jax.random.split(key)
        batch = self._batch(state, state.batch, state.env, hparams, state.valid)
        params, opt_state, losses = self.step_on_batch(state, batch, hparams)
        stepped = state.replace(params=params)
        env, traj, valid, returns, finite = self._episodes(
            key_roll, stepped, env_params
        )
        features = self._features(
            key_feat, traj, valid, returns, state.batch, state.valid, state.returns
        )
        new_state = EpisodicTRPOState(
            params,
            opt_state,
            env,
            state.update_count + 1,
            state.diverged,
            traj,
            valid,
            returns,
            features,
        )
        stats = {
            "episode_return": jnp.mean(returns),
            "episodes": jnp.float32(self.num_envs),
            "episode_length": jnp.mean(valid.sum(0).astype(jnp.float32)),
            "env_finite": finite & jnp.all(jnp.isfinite(features)),
        }
        losses = {**losses, "return_std": jnp.std(returns)}
        kept, metrics = finish_update(
            state, new_state, stats, losses, self.steps_per_update
        )
        metrics.update(dict(zip(self.feature_names, kept.features, strict=True)))
        return kept, metrics
