"""OpenAI evolution strategies (Salimans et al. 2017) as a learner.

One update is one generation: `population_size` antithetic perturbations
theta +- sigma eps of the policy mean theta, one episode each of at most
`max_episode_steps` (a masked scan from `env.reset`, no while_loop; the two
members of a pair share the episode's key), centred-rank fitness shaping, the
gradient estimate g = sum_i rank_i eps_i / (n sigma) minus weight_decay x
theta, and an Adam (or SGD) ascent step of rate learning_rate. sigma,
learning_rate and weight_decay are traced hparams, so a controller can set
them every generation and a population of ES runs with different sigmas is
one program. One extra episode of the unperturbed mean gives
`es/center_return`.

The policy is a `nets.mlp.DeterministicActor` (64x64 tanh by default): argmax
of its logits for discrete actions, `squash_to_bounds` of its output for
continuous ones, with the bounds of the task the member trains on. With
`normalize_obs` the observations are standardised by running statistics of
every observation the generation saw (as OpenAI-ES does).

Why not evosax's Open_ES: it keeps sigma in its state (set from a Python
schedule) and builds its optimizer, learning rate included, once at
construction; tracing both per generation would mean overwriting its
internal state every step. Written directly, the three numbers are plain
traced hparams and antithetic pairs can share env seeds. evosax is the peer
in benchmarks/es_throughput.py.
"""

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax.flatten_util import ravel_pytree

from jaxmeta.learners.base import check_positive_ints, env_steps, guard_update
from jaxmeta.learners.common.normalization import (
    RunningStats,
    init_running_stats,
    normalize,
    update_running_stats_from_sums,
)
from jaxmeta.learners.common.on_policy import checked_hidden, float32_defaults
from jaxmeta.learners.common.policy import (
    PolicyHead,
    action_bounds,
    policy_head_for,
    squash_to_bounds,
)
from jaxmeta.nets.mlp import DeterministicActor
from jaxmeta.validation import NONNEGATIVE, POSITIVE

OPTIMIZERS = ("adam", "sgd")


@struct.dataclass
class ESHParams:
    sigma: jax.Array = 0.02
    learning_rate: jax.Array = 0.01
    weight_decay: jax.Array = 0.005


@struct.dataclass
class ESCarry:
    obs_stats: RunningStats  # observation statistics (used with normalize_obs)
    action_low: jax.Array  # [action_dim] bounds of the task ([0]: discrete)
    action_high: jax.Array


@struct.dataclass
class ESState:
    params: dict  # the policy mean theta (DeterministicActor variables)
    opt_state: optax.OptState
    env: ESCarry
    update_count: jax.Array  # [] int32
    diverged: jax.Array  # [] bool
    steps: jax.Array  # [] int32 env steps taken so far


def centred_ranks(values):
    """[n] -> ranks mapped to [-0.5, 0.5] (non-finite values rank lowest)."""
    values = jnp.where(jnp.isfinite(values), values, -jnp.inf)
    ranks = jnp.argsort(jnp.argsort(values)).astype(jnp.float32)
    return ranks / jnp.maximum(values.shape[0] - 1, 1) - 0.5


def antithetic_noise(key, num_pairs: int, dim: int):
    """[2 * num_pairs, dim]: eps_1..eps_k then -eps_1..-eps_k."""
    half = jax.random.normal(key, (num_pairs, dim))
    return jnp.concatenate([half, -half])


@dataclasses.dataclass(frozen=True)
class ES:
    """Static OpenAI-ES config. `env` is a gymnax-contract env."""

    env: object
    population_size: int = 64
    max_episode_steps: int = 1000
    hidden: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    optimizer: str = "adam"
    normalize_obs: bool = True
    # Built once here, outside any trace: brax builds its action space from
    # jnp arrays, which are tracers when read inside jit.
    _head: PolicyHead = dataclasses.field(init=False, repr=False, compare=False)

    # Whether `episode` returns the state the episode ended in (NSR-ES's
    # behaviour) rather than whatever the auto-reset env holds at the cap.
    keeps_final_state = False

    hparam_domains = {
        "sigma": POSITIVE,
        "learning_rate": POSITIVE,
        "weight_decay": NONNEGATIVE,
    }

    def __post_init__(self):
        check_positive_ints(
            population_size=self.population_size,
            max_episode_steps=self.max_episode_steps,
        )
        if self.population_size % 2:
            raise ValueError(
                f"population_size must be even (antithetic pairs), got "
                f"{self.population_size}"
            )
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}"
            )
        object.__setattr__(self, "hidden", checked_hidden(self.hidden, self.activation))
        object.__setattr__(
            self, "_head", policy_head_for(self.env, self.env.default_params)
        )

    @property
    def steps_per_update(self) -> int:
        """At most: every perturbation's episode and the mean's."""
        return (self.population_size + 1) * self.max_episode_steps

    @property
    def head(self) -> PolicyHead:
        return self._head

    @property
    def network(self) -> DeterministicActor:
        return DeterministicActor(self.head.action_dim, self.hidden, self.activation)

    def _tx(self, hparams):
        if self.optimizer == "adam":
            return optax.adam(hparams.learning_rate)
        return optax.sgd(hparams.learning_rate)

    def default_hparams(self) -> ESHParams:
        return float32_defaults(ESHParams)

    def init(self, key, hparams: ESHParams, env_params) -> ESState:
        """The mean policy, the optimizer state, the task's action bounds."""
        obs, _ = self.env.reset(key, env_params)
        obs = jnp.reshape(obs, (1, -1)).astype(jnp.float32)
        params = self.network.init(key, obs)
        low, high = action_bounds(self.env, env_params, self.head)
        carry = ESCarry(init_running_stats(obs.shape[-1]), low, high)
        flat, _ = ravel_pytree(params)
        return ESState(
            params,
            self._tx(hparams).init(flat),
            carry,
            jnp.int32(0),
            jnp.asarray(False),
            jnp.int32(0),
        )

    def policy(self, params, carry: ESCarry, obs):
        """Env actions for raw `obs: [..., obs_dim]` under `params`."""
        if self.normalize_obs:
            obs = normalize(carry.obs_stats, obs)
        out = self.network.apply(params, obs)
        if self.head.discrete:
            return jnp.argmax(out, -1)
        action = squash_to_bounds(out, carry.action_low, carry.action_high)
        return action.reshape(action.shape[:-1] + self.head.env_shape)

    def episode(self, key, params, carry: ESCarry, env_params, record=False):
        """One episode from reset: `(return, length, final env state (only
        with `keeps_final_state`),
        (count, sum, sum of squares) of its observations about the mean,
        all finite)`, plus with `record` (static) its transitions, each
        `[max_episode_steps, ...]`: obs, action (in [-1, 1], as SAC's replay
        holds them), reward, next_obs (pre-reset), terminated, valid (the step
        belongs to the episode)."""
        obs, env_state = self.env.reset(key, env_params)
        mean = carry.obs_stats.mean

        def step(state, key):
            obs, env_state, alive, total, length, moments, finite = state
            flat = jnp.reshape(obs, (-1,)).astype(jnp.float32)
            action = self.policy(params, carry, flat)
            obs2, env_state2, reward, terminated, truncated, info = self.env.step(
                key, env_state, action, env_params
            )
            transition = None
            if record:
                final = jnp.reshape(info["final_observation"], (-1,))
                span = carry.action_high - carry.action_low
                unit = 2.0 * (jnp.reshape(action, (-1,)) - carry.action_low) / span
                transition = {
                    "obs": flat,
                    "action": unit - 1.0,
                    "reward": reward.astype(jnp.float32),
                    "next_obs": final.astype(jnp.float32),
                    "terminated": terminated,
                    "valid": alive,
                }
            reward = jnp.where(alive, reward.astype(jnp.float32), 0.0)
            finite = finite & jnp.isfinite(reward) & jnp.all(jnp.isfinite(flat))
            if self.normalize_obs:
                centred = jnp.where(alive, flat - mean, 0.0)
                moments = (
                    moments[0] + alive,
                    moments[1] + centred,
                    moments[2] + centred**2,
                )
            done = alive & (terminated | truncated)
            if self.keeps_final_state:
                # gymnax auto-resets on the last step: keep the state before it
                # as the episode's final state (for behaviour descriptors).
                env_state = jax.tree_util.tree_map(
                    lambda new, old: jnp.where(alive & ~done, new, old),
                    env_state2,
                    env_state,
                )
                obs = jnp.where(alive & ~done, obs2, obs)
            else:  # steps after the end are masked by `alive`; no copies
                env_state, obs = env_state2, obs2
            return (
                obs,
                env_state,
                alive & ~done,
                total + reward,
                length + alive,
                moments,
                finite,
            ), transition

        dim = mean.shape[0]
        zeros = (jnp.float32(0.0), jnp.zeros(dim), jnp.zeros(dim))
        init = (
            obs,
            env_state,
            jnp.asarray(True),
            jnp.float32(0.0),
            jnp.int32(0),
            zeros,
            jnp.asarray(True),
        )
        keys = jax.random.split(key, self.max_episode_steps)
        (_, env_state, _, total, length, moments, finite), record_ys = jax.lax.scan(
            step, init, keys
        )
        if record:
            return total, length, env_state, moments, finite, record_ys
        return total, length, env_state, moments, finite

    def evaluate(
        self, key, flat_params, unravel, carry, env_params, record=False, center=None
    ):
        """Episodes of a batch of flat parameter vectors `[n, P]` (pairs i and
        i + n/2 share a key). Returns what `episode` returns, batched. With
        `center = (key, flat [P])` that episode is played as row n of the same
        batch: one scan instead of a second, unbatched one."""
        n = flat_params.shape[0]
        keys = jax.random.split(key, n // 2)
        keys = jnp.concatenate([keys, keys])
        if center is not None:
            keys = jnp.concatenate([keys, center[0][None]])
            flat_params = jnp.concatenate([flat_params, center[1][None]])

        def one(key, flat):
            return self.episode(key, unravel(flat), carry, env_params, record)

        return jax.vmap(one)(keys, flat_params)

    def fitness(self, state, hparams, returns, finals):
        """`(shaped fitness [n], extra metrics)` of a generation: centred ranks
        of the returns (NSR-ES mixes in novelty from the final states)."""
        return centred_ranks(returns), {}

    def update(self, key, state: ESState, hparams: ESHParams, env_params):
        """One generation; see the module doc. Metrics: `episode_return` (mean
        over the perturbations), `episodes`, `env_steps`, `train/*`, and
        `es/center_return`, `es/return_max`, `es/return_std`, `es/sigma`,
        `es/grad_norm`, `es/returns` ([n], the raw returns)."""
        state, metrics, _, _ = self.generation(key, state, hparams, env_params)
        return state, metrics

    def generation(self, key, state, hparams, env_params, record=False):
        """`update`, plus the final env state of the mean policy's episode and,
        with `record` (static), the perturbations' transitions (`episode`'s,
        each `[population_size, max_episode_steps, ...]`; else None)."""
        key_noise, key_eval, key_center = jax.random.split(key, 3)
        flat, unravel = ravel_pytree(state.params)
        eps = antithetic_noise(key_noise, self.population_size // 2, flat.size)
        population = flat + hparams.sigma * eps
        batch = self.evaluate(
            key_eval,
            population,
            unravel,
            state.env,
            env_params,
            record,
            center=(key_center, flat),
        )
        members = jax.tree_util.tree_map(lambda x: x[:-1], batch)
        returns, lengths, finals, moments, finite, *recorded = members
        center, center_length, center_final, _, center_finite = jax.tree_util.tree_map(
            lambda x: x[-1], batch[:5]
        )
        shaped, extra = self.fitness(state, hparams, returns, finals)
        grad = shaped @ eps / (self.population_size * hparams.sigma)
        grad = grad - hparams.weight_decay * flat
        updates, opt_state = self._tx(hparams).update(-grad, state.opt_state, flat)
        new_flat = optax.apply_updates(flat, updates)
        carry = state.env
        if self.normalize_obs:
            stats = update_running_stats_from_sums(
                carry.obs_stats, moments[0].sum(), moments[1].sum(0), moments[2].sum(0)
            )
            carry = carry.replace(obs_stats=stats)
        steps = state.steps + jnp.sum(lengths) + center_length
        new_state = state.replace(
            params=unravel(new_flat),
            opt_state=opt_state,
            env=carry,
            update_count=state.update_count + 1,
        )
        losses = {"grad_norm": jnp.linalg.norm(grad)}
        env_ok = jnp.all(finite) & center_finite
        new_state, failure = guard_update(state, new_state, losses, env_ok)
        new_state = new_state.replace(steps=steps)
        return (
            new_state,
            {
                **extra,
                "episode_return": jnp.mean(returns),
                "episodes": jnp.float32(self.population_size),
                "env_steps": env_steps(steps, 1),
                "train/episode_length": jnp.mean(lengths.astype(jnp.float32)),
                "train/diverged": new_state.diverged.astype(jnp.float32),
                "train/failure": failure,
                "es/center_return": center,
                "es/return_max": jnp.max(returns),
                "es/return_std": jnp.std(returns),
                "es/sigma": jnp.asarray(hparams.sigma, jnp.float32),
                "es/grad_norm": losses["grad_norm"],
                "es/returns": returns,
            },
            center_final,
            recorded[0] if record else None,
        )

    def act(self, key, state: ESState, obs, deterministic: bool = False):
        """Env actions for raw `obs: [N, obs_dim]` (ES policies are
        deterministic either way)."""
        return self.policy(state.params, state.env, obs)
