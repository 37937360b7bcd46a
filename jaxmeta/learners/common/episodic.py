"""Episodic on-policy updates with per-step features of their batches (the
inner learners of seeds/002's trust-region meta-MDP): shared by
`EpisodicTRPO` and `EpisodicPPO`.

The meta-MDP's step t is: the N trajectories B_t of the current policy
pi_t give the features phi_t (with B_{t-1}); a controller picks the step's
hparam (TRPO's KL bound, PPO's clip range) from phi_t; one update on B_t
gives pi_{t+1}; its N trajectories B_{t+1} give J_{t+1} and phi_{t+1}. So
each update *ends* with the rollout: the state keeps B_t, the batch the
next step is taken on, and `initial_metrics` gives the controller phi_0
and J_0 before the first update (see `Controlled`).

Each rollout resets all `num_envs` = N envs and steps `num_steps` times;
only the first episode of each env counts (later steps are padding, weight
0), so J is the mean return of exactly N episodes. `num_steps` should be at
least the env's episode length (an episode still running at the end is cut
there and bootstrapped from the critic, as a truncation). At init two
batches of pi_0 are drawn, so phi_0 compares two independent samples of the
same policy (its KL terms estimate 0).

`features` is a static callable `(key, batch_t, batch_prev, returns_t,
returns_prev) -> [F]` with `names` (F metric names) and `check(episodes)`,
e.g. `control.metafeatures.MetaFeatures()` (learners do not import control:
the caller passes it); None computes none.
"""

import jax
import jax.numpy as jnp
from flax import struct

from jaxmeta.learners.common.finish import finish_update
from jaxmeta.learners.common.rollout import EnvCarry, Trajectory, init_env_carry


@struct.dataclass
class EpisodicState:
    params: dict  # {"actor", "critic"}
    opt_state: object  # the learner's optimizer state
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


class Episodic:
    """The episodic update around a learner's own step. The concrete class
    (a frozen dataclass) has fields `num_envs`, `num_steps`, `features`,
    `normalize_obs`, and methods `_base_init(key, hparams, env_params)`
    (its state before any rollout), `_batch(state, traj, env, hparams,
    valid)` and `_step(key, state, batch, hparams) -> (params, opt_state,
    losses)`."""

    def _check_episodic(self):
        if self.normalize_obs:
            raise ValueError(
                f"normalize_obs must be False for {type(self).__name__}: its "
                "features compare raw state distributions across steps"
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

    def init(self, key, hparams, env_params) -> EpisodicState:
        """Networks, optimizer, and two independent batches of the initial
        policy: B_0 is kept, phi_0 compares it with the other."""
        key_init, key_prev, key_now, key_feat = jax.random.split(key, 4)
        base = self._base_init(key_init, hparams, env_params)
        _, prev, prev_valid, prev_ret, _ = self._episodes(key_prev, base, env_params)
        env, traj, valid, returns, _ = self._episodes(key_now, base, env_params)
        features = self._features(
            key_feat, traj, valid, returns, prev, prev_valid, prev_ret
        )
        return EpisodicState(
            base.params, base.opt_state, env, base.update_count, base.diverged,
            traj, valid, returns, features,
        )  # fmt: skip

    def initial_metrics(self, state: EpisodicState) -> dict:
        """J_0 and phi_0, the signals the controller reads before update 0."""
        metrics = {"episode_return": jnp.mean(state.returns)}
        metrics.update(dict(zip(self.feature_names, state.features, strict=True)))
        return metrics

    def update(self, key, state: EpisodicState, hparams, env_params):
        """One step on B_t with this update's hparams, then B_{t+1}.

        Returns `(state, metrics)`: the learner's step metrics with
        `episode_return` = J_{t+1}, `episodes` = N, `train/return_std` and
        phi_{t+1} by name.
        """
        key_roll, key_feat = jax.random.split(key)
        key_step = jax.random.fold_in(key, 2)  # a learner whose step samples
        batch = self._batch(state, state.batch, state.env, hparams, state.valid)
        params, opt_state, losses = self._step(key_step, state, batch, hparams)
        stepped = state.replace(params=params)
        env, traj, valid, returns, finite = self._episodes(
            key_roll, stepped, env_params
        )
        features = self._features(
            key_feat, traj, valid, returns, state.batch, state.valid, state.returns
        )
        new_state = EpisodicState(
            params, opt_state, env, state.update_count + 1, state.diverged,
            traj, valid, returns, features,
        )  # fmt: skip
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
