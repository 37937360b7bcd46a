"""NSR-ES (Conti et al. 2018): OpenAI-ES whose fitness mixes reward and
novelty, on the same contract as `learners.es.ES`.

Each perturbation's fitness is w x centred rank of its return + (1 - w) x
centred rank of its novelty, w = `reward_weight`, a traced
hparam (default 0.5, as in the paper's equal weighting). Novelty = the mean
Euclidean distance from the episode's behaviour to its k = 10 nearest
neighbours in an archive (a fixed-capacity ring buffer in the state; all
entries while fewer than k are filled, 0 while it is empty); behaviour = the
final (x, y) position of the body. After each generation the mean policy's
behaviour joins the archive.

An env needs a position to describe behaviour: our LunarLander (the hull's
position) and the brax envs (the first body's x, y). Others are refused at
construction, naming the env and the supported ones.
"""

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

from jaxmeta.learners.common.on_policy import float32_defaults
from jaxmeta.learners.es import ES, ESState, centred_ranks
from jaxmeta.validation import Domain


def _lunar_lander_xy(state):
    return state.body.position


def _brax_xy(state):
    return state.brax_state.pipeline_state.x.pos[0, :2]


def behaviour_function(env):
    """state -> [2] final (x, y) for `env`'s class; ValueError otherwise."""
    from jaxmeta.envs.brax import BraxEnv
    from jaxmeta.envs.lunar_lander import LunarLander

    known = {LunarLander: _lunar_lander_xy, BraxEnv: _brax_xy}
    for cls, fn in known.items():
        if isinstance(env, cls):
            return fn
    raise ValueError(
        f"NSR-ES needs an env with an (x, y) position for its behaviour; "
        f"{type(env).__name__} has none. Supported: LunarLander(Continuous)-v3 "
        f"and the brax envs (brax-ant, brax-halfcheetah, brax-hopper, "
        f"brax-inverted_pendulum, brax-walker2d)"
    )


@struct.dataclass
class NSRHParams:
    sigma: jax.Array = 0.02
    learning_rate: jax.Array = 0.01
    weight_decay: jax.Array = 0.005
    reward_weight: jax.Array = 0.5


@struct.dataclass
class NSRState(ESState):
    archive: jax.Array = None  # [capacity, 2] behaviours, oldest overwritten
    archive_count: jax.Array = None  # [] int32 behaviours added so far


@dataclasses.dataclass(frozen=True)
class NSRES(ES):
    """NSR-ES: `ES` plus a novelty archive of `archive_size` behaviours."""

    keeps_final_state = True

    archive_size: int = 256
    neighbours: int = 10

    hparam_domains = {
        **ES.hparam_domains,
        "reward_weight": Domain(0.0, 1.0),
    }

    def __post_init__(self):
        super().__post_init__()
        behaviour_function(self.env)
        if self.neighbours < 1 or self.archive_size < self.neighbours:
            raise ValueError(
                f"need 1 <= neighbours <= archive_size, got neighbours="
                f"{self.neighbours} archive_size={self.archive_size}"
            )

    def default_hparams(self) -> NSRHParams:
        return float32_defaults(NSRHParams)

    def init(self, key, hparams, env_params) -> NSRState:
        state = super().init(key, hparams, env_params)
        return NSRState(
            **vars(state),
            archive=jnp.zeros((self.archive_size, 2)),
            archive_count=jnp.int32(0),
        )

    def novelty(self, behaviours, archive, count):
        """[n] mean distance to the k nearest filled archive entries."""
        filled = jnp.arange(self.archive_size) < count
        dist = jnp.linalg.norm(behaviours[:, None, :] - archive[None], axis=-1)
        dist = jnp.where(filled[None], dist, jnp.inf)
        nearest = -jax.lax.top_k(-dist, self.neighbours)[0]
        used = jnp.isfinite(nearest)
        total = jnp.sum(jnp.where(used, nearest, 0.0), axis=1)
        return jnp.where(count > 0, total / jnp.maximum(used.sum(1), 1), 0.0)

    def fitness(self, state: NSRState, hparams: NSRHParams, returns, finals):
        """reward_weight x rank(return) + (1 - reward_weight) x rank(novelty)."""
        behaviours = jax.vmap(behaviour_function(self.env))(finals)
        novelty = self.novelty(behaviours, state.archive, state.archive_count)
        w = hparams.reward_weight
        shaped = w * centred_ranks(returns) + (1 - w) * centred_ranks(novelty)
        return shaped, {"nsr/novelty_mean": jnp.mean(novelty)}

    def update(self, key, state: NSRState, hparams: NSRHParams, env_params):
        """One NSR-ES generation, then the mean policy's behaviour joins the
        archive; metrics as ES plus `nsr/novelty_mean`, `nsr/archive_size`."""
        new_state, metrics, center_final, _ = self.generation(
            key, state, hparams, env_params
        )
        behaviour = behaviour_function(self.env)(center_final)
        index = state.archive_count % self.archive_size
        new_state = new_state.replace(
            archive=state.archive.at[index].set(behaviour),
            archive_count=state.archive_count + 1,
        )
        filled = jnp.minimum(new_state.archive_count, self.archive_size)
        metrics["nsr/archive_size"] = filled.astype(jnp.float32)
        return new_state, metrics
