"""ESAC (Suri et al. 2020): an OpenAI-ES population and a SAC agent that share
one replay buffer, with the SAC actor injected into the ES search.

One update is one ES generation (`learners.es.ES`, on its contract: sigma and
learning_rate are the traced hparams a controller sets) whose perturbations'
transitions all go to SAC's replay buffer, then one SAC update
(`learners.sac.SAC`: its own `sac_num_envs x sac_num_steps` env steps and
`gradient_steps` SAC steps on the shared buffer). Every `inject_every`
generations the SAC actor's deterministic policy (its squashed mean: the same
"torso" and "mean" layers as the ES policy) plays one episode; if it beats the
ES mean's episode of that generation, it becomes the ES mean. The ES policy
is the one that acts and is evaluated.

Both parts share the policy size and activation (64x64 tanh by default), and
the ES part works on raw observations (no running normalisation), so the SAC
actor can be copied in as it is. Env steps count the ES episodes, SAC's own
steps and the injection episodes.
"""

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

from jaxmeta.learners.common.on_policy import float32_defaults
from jaxmeta.learners.common.replay import replay_add_masked
from jaxmeta.learners.es import ES, ESState
from jaxmeta.learners.sac import SAC, SACHParams, SACState
from jaxmeta.validation import POSITIVE, Domain


@struct.dataclass
class ESACHParams:
    sigma: jax.Array = 0.02  # ES noise
    learning_rate: jax.Array = 0.01  # ES step size
    weight_decay: jax.Array = 0.005
    sac_learning_rate: jax.Array = 3e-4  # SAC actor and temperature
    sac_critic_learning_rate: jax.Array = 3e-4
    gamma: jax.Array = 0.99
    tau: jax.Array = 0.005
    init_alpha: jax.Array = 1.0
    target_entropy_scale: jax.Array = 1.0


@struct.dataclass
class ESACState:
    es: ESState
    sac: SACState
    update_count: jax.Array  # [] int32
    diverged: jax.Array  # [] bool, the ES part (the acting policy) failed
    steps: jax.Array  # [] int32, env steps of every part so far

    @property
    def params(self):
        return self.es.params

    @property
    def env(self):
        return self.es.env


@dataclasses.dataclass(frozen=True)
class ESAC:
    """Static ESAC config: the ES fields as `ES`, then SAC's (`SAC`); a
    continuous (Box) action space is required."""

    env: object
    population_size: int = 64
    max_episode_steps: int = 1000
    hidden: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    optimizer: str = "adam"
    sac_num_envs: int = 1
    sac_num_steps: int = 200
    gradient_steps: int = 200
    buffer_capacity: int = 200_000
    batch_size: int = 256
    inject_every: int = 5
    _es: ES = dataclasses.field(init=False, repr=False, compare=False)
    _sac: SAC = dataclasses.field(init=False, repr=False, compare=False)

    hparam_domains = {
        **ES.hparam_domains,
        "sac_learning_rate": POSITIVE,
        "sac_critic_learning_rate": POSITIVE,
        "gamma": Domain(0.0, 1.0),
        "tau": Domain(0.0, 1.0, open_minimum=True),
        "init_alpha": POSITIVE,
        "target_entropy_scale": Domain(),
    }

    def __post_init__(self):
        es = ES(
            self.env,
            population_size=self.population_size,
            max_episode_steps=self.max_episode_steps,
            hidden=self.hidden,
            activation=self.activation,
            optimizer=self.optimizer,
            normalize_obs=False,
        )
        if es.head.discrete:
            raise ValueError(
                "ESAC needs a continuous (Box) action space (its SAC part); "
                f"{getattr(self.env, 'name', type(self.env).__name__)} has "
                f"{es.head.action_dim} discrete actions"
            )
        per_generation = self.population_size * self.max_episode_steps
        if self.buffer_capacity < per_generation:
            raise ValueError(
                f"buffer_capacity ({self.buffer_capacity}) must hold one "
                f"generation's population_size * max_episode_steps = "
                f"{per_generation} transitions"
            )
        inject = self.inject_every
        if not isinstance(inject, int) or isinstance(inject, bool) or inject < 1:
            raise ValueError(f"inject_every must be a positive integer, got {inject!r}")
        sac = SAC(
            self.env,
            num_envs=self.sac_num_envs,
            num_steps=self.sac_num_steps,
            gradient_steps=self.gradient_steps,
            buffer_capacity=self.buffer_capacity,
            batch_size=self.batch_size,
            learning_starts=0,  # the ES population fills the buffer from the start
            hidden=es.hidden,
            activation=self.activation,
        )
        object.__setattr__(self, "_es", es)
        object.__setattr__(self, "_sac", sac)

    @property
    def es(self) -> ES:
        return self._es

    @property
    def sac(self) -> SAC:
        return self._sac

    @property
    def head(self):
        return self.es.head

    @property
    def steps_per_update(self) -> int:
        """At most: the ES generation, SAC's steps, an injection episode."""
        return (
            self.es.steps_per_update
            + self.sac.steps_per_update
            + self.max_episode_steps
        )

    def default_hparams(self) -> ESACHParams:
        return float32_defaults(ESACHParams)

    def _sac_hparams(self, hparams: ESACHParams) -> SACHParams:
        return SACHParams(
            learning_rate=hparams.sac_learning_rate,
            critic_learning_rate=hparams.sac_critic_learning_rate,
            gamma=hparams.gamma,
            tau=hparams.tau,
            init_alpha=hparams.init_alpha,
            target_entropy_scale=hparams.target_entropy_scale,
        )

    def init(self, key, hparams: ESACHParams, env_params) -> ESACState:
        """The ES mean and SAC (actor, critics, empty buffer, envs)."""
        key_es, key_sac = jax.random.split(key)
        es = self.es.init(key_es, hparams, env_params)
        sac = self.sac.init(key_sac, self._sac_hparams(hparams), env_params)
        zero = jnp.int32(0)
        return ESACState(es, sac, zero, jnp.asarray(False), zero)

    def sac_policy_params(self, sac_state: SACState) -> dict:
        """The SAC actor's "torso" and "mean" as ES policy parameters."""
        actor = sac_state.params["actor"]["params"]
        return {"params": {"torso": actor["torso"], "mean": actor["mean"]}}

    def _inject(self, key, state: ESState, sac: SACState, center, env_params):
        """`(es state, injected [] bool, SAC episode return, its length)`: the
        SAC actor replaces the ES mean if its episode beats `center`."""
        candidate = self.sac_policy_params(sac)
        sac_return, length, *_ = self.es.episode(key, candidate, state.env, env_params)
        better = (sac_return > center) & ~sac.diverged
        better = better & jnp.isfinite(sac_return)
        params = jax.tree_util.tree_map(
            lambda new, old: jnp.where(better, new, old), candidate, state.params
        )
        return state.replace(params=params), better, sac_return, length

    def update(self, key, state: ESACState, hparams: ESACHParams, env_params):
        """One ES generation (transitions into the buffer), one SAC update,
        and every `inject_every` generations an injection. Metrics: ES's,
        with `env_steps` of every part, plus `esac/injected`, `esac/sac_return`
        (NaN between injections) and SAC's `train/*` as `esac/sac_*`."""
        key_es, key_sac, key_inject = jax.random.split(key, 3)
        es_state, metrics, _, recorded = self.es.generation(
            key_es, state.es, hparams, env_params, record=True
        )
        flat = {k: v.reshape((-1,) + v.shape[2:]) for k, v in recorded.items()}
        buffer = replay_add_masked(
            state.sac.buffer,
            flat["obs"],
            flat["action"],
            flat["reward"],
            flat["next_obs"],
            flat["terminated"] & flat["valid"],
            flat["valid"],
        )
        sac_state, sac_metrics = self.sac.update(
            key_sac,
            state.sac.replace(buffer=buffer),
            self._sac_hparams(hparams),
            env_params,
        )
        count = state.update_count + 1
        due = (count % self.inject_every == 0) & ~es_state.diverged

        def inject(es_state):
            return self._inject(
                key_inject, es_state, sac_state, metrics["es/center_return"], env_params
            )

        def skip(es_state):
            return es_state, jnp.asarray(False), jnp.float32(jnp.nan), jnp.int32(0)

        es_state, injected, sac_return, inject_steps = jax.lax.cond(
            due, inject, skip, es_state
        )
        es_steps = es_state.steps - state.es.steps
        steps = state.steps + es_steps + self.sac.steps_per_update + inject_steps
        metrics = {
            **metrics,
            "env_steps": steps,
            "esac/injected": injected.astype(jnp.float32),
            "esac/sac_return": sac_return,
            "esac/sac_episode_return": sac_metrics["episode_return"],
            "esac/sac_diverged": sac_state.diverged.astype(jnp.float32),
            **{
                f"esac/sac_{name[len('train/') :]}": value
                for name, value in sac_metrics.items()
                if name.startswith("train/") and name not in ("train/failure",)
            },
        }
        new_state = ESACState(es_state, sac_state, count, es_state.diverged, steps)
        return new_state, metrics

    def act(self, key, state: ESACState, obs, deterministic: bool = False):
        """The ES mean policy's env actions for `obs: [N, obs_dim]`."""
        return self.es.act(key, state.es, obs, deterministic)
