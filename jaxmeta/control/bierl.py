"""BiERL (Wang et al. 2023, arXiv 2308.01207): a controller meta-trained by
ES while the learner it controls trains, in one compiled program.

`BiERL(learner, controller)` is a learner. One of its updates is
`meta_every` (t = 10 in the paper) inner updates of `Controlled(learner,
controller)` with the current controller weights phi, then one meta update:
`meta_population` antithetic candidates phi_j = phi + sigma_meta eps_j, each
scored by a truncated fitness, centred ranks, and an Adam step of rate
lr_meta on phi (sigma_meta 0.05, lr_meta 0.03 as in the authors' code). The
candidates are a vmap inside the same graph as the inner population.

Truncated fitness (the paper's "return after one-step optimization"): the
candidate's hparams (its controller on the current history) drive
`truncation` updates of a copy of the learner's state by `fitness_learner`
(the learner with `population_size = fitness_population`, 10 in the authors'
code, when it has one), and the fitness is the `episode_return` of the last
one. With truncation 1 for ES this is exactly the authors' code: the mean
return of 10 perturbations drawn with the candidate's sigma around the
current mean. A learner whose hparams act only through its gradient step
(PPO's learning rate) needs truncation 2: the return after one step. Every
candidate sees the same keys (common random numbers), so their fitnesses
differ only through their hparams. The meta-training's env steps are counted
in `env_steps` (and apart in `bierl/meta_env_steps`).

Warm start: `hparams.ctrl_init` holds the controller's starting weights; set
it to weights trained on an easy task (`warm_start`).
"""

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax.flatten_util import ravel_pytree

from jaxmeta.control.base import Controlled, ControlledHParams, ControlledState


@struct.dataclass
class BiERLHParams:
    inner: Any  # the learner's base hparams
    ctrl_init: Any  # the controller's starting weights (warm start)
    sigma_meta: jax.Array = 0.05
    lr_meta: jax.Array = 0.03


@struct.dataclass
class BiERLState:
    inner: ControlledState  # learner state, controller history, signals
    phi: Any  # the controller's current weights (the meta-ES mean)
    meta_opt: optax.OptState
    meta_env_steps: jax.Array  # [] int32, env steps spent on truncated fitness

    @property
    def params(self):
        return self.inner.learner.params

    @property
    def update_count(self):
        return self.inner.learner.update_count

    @property
    def diverged(self):
        return self.inner.learner.diverged

    @property
    def env(self):
        return self.inner.learner.env


def centred_ranks(values):
    """[m] -> centred ranks in [-0.5, 0.5] (NaN ranks lowest)."""
    values = jnp.where(jnp.isfinite(values), values, -jnp.inf)
    ranks = jnp.argsort(jnp.argsort(values)).astype(jnp.float32)
    return ranks / jnp.maximum(values.shape[0] - 1, 1) - 0.5


@dataclasses.dataclass(frozen=True)
class BiERL:
    learner: Any
    controller: Any
    meta_population: int = 200
    meta_every: int = 10
    fitness_population: int = 10
    truncation: int = 1

    def __post_init__(self):
        for name in (
            "meta_population",
            "meta_every",
            "fitness_population",
            "truncation",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.meta_population < 2 or self.meta_population % 2:
            raise ValueError(
                f"meta_population must be an even int >= 2 (antithetic pairs), "
                f"got {self.meta_population!r}"
            )
        _ = self.controlled  # checks the controller against the learner

    @property
    def controlled(self) -> Controlled:
        return Controlled(self.learner, self.controller)

    @property
    def fitness_learner(self):
        if hasattr(self.learner, "population_size"):
            return dataclasses.replace(
                self.learner, population_size=self.fitness_population
            )
        return self.learner

    @property
    def env(self):
        return self.learner.env

    @property
    def steps_per_update(self) -> int:
        """At most: the inner updates plus every candidate's fitness updates."""
        inner = self.meta_every * self.learner.steps_per_update
        meta = (
            self.meta_population
            * self.truncation
            * self.fitness_learner.steps_per_update
        )
        return inner + meta

    def default_hparams(self) -> BiERLHParams:
        base = self.learner.default_hparams()
        return BiERLHParams(
            base,
            self.controller.default_params(base),
            jnp.float32(0.05),
            jnp.float32(0.03),
        )

    def init(self, key, hparams: BiERLHParams, env_params) -> BiERLState:
        controlled_hparams = ControlledHParams(hparams.inner, hparams.ctrl_init)
        inner = self.controlled.init(key, controlled_hparams, env_params)
        flat, _ = ravel_pytree(hparams.ctrl_init)
        meta_opt = optax.adam(hparams.lr_meta).init(flat)
        return BiERLState(inner, hparams.ctrl_init, meta_opt, jnp.int32(0))

    def _fitness(self, key, inner: ControlledState, phi, env_params):
        """Truncated fitness of controller weights `phi`: ([] return, [] env
        steps spent)."""
        hparams, _ = self.controller.act(key, inner.ctrl, phi, inner.signals)
        learner, state = self.fitness_learner, inner.learner
        start = jnp.asarray(inner.signals["env_steps"], jnp.int32)
        for i in range(self.truncation):
            state, metrics = learner.update(jax.random.fold_in(key, i), state, hparams,
                                            env_params)  # fmt: skip
        return metrics["episode_return"], metrics["env_steps"] - start

    def update(self, key, state: BiERLState, hparams: BiERLHParams, env_params):
        """`meta_every` controlled inner updates, then one meta-ES step on phi.

        Returns `(state, metrics)`: the inner metrics averaged over the inner
        updates (episode_return NaN-safe; episodes summed; env_steps total),
        `bierl/<field>` (each output's value per inner update, [meta_every])
        and the meta step's `bierl/meta_*` numbers.
        """
        key_inner, key_eps, key_fit = jax.random.split(key, 3)
        inner_hparams = ControlledHParams(hparams.inner, state.phi)

        def inner_update(inner, k):
            return self.controlled.update(k, inner, inner_hparams, env_params)

        keys = jax.random.split(key_inner, self.meta_every)
        inner, metrics = jax.lax.scan(inner_update, state.inner, keys)
        flat, unravel = ravel_pytree(state.phi)
        half = jax.random.normal(key_eps, (self.meta_population // 2, flat.size))
        eps = jnp.concatenate([half, -half])
        candidates = flat + hparams.sigma_meta * eps
        fitness, spent = jax.vmap(
            lambda c: self._fitness(key_fit, inner, unravel(c), env_params)
        )(candidates)
        shaped = centred_ranks(fitness)
        grad = shaped @ eps / (self.meta_population * hparams.sigma_meta)
        tx = optax.adam(hparams.lr_meta)
        updates, meta_opt = tx.update(-grad, state.meta_opt, flat)
        new_flat = optax.apply_updates(flat, updates)
        ok = jnp.all(jnp.isfinite(new_flat))
        phi = unravel(jnp.where(ok, new_flat, flat))
        meta_env_steps = state.meta_env_steps + jnp.sum(spent).astype(jnp.int32)
        new_state = BiERLState(inner, phi, meta_opt, meta_env_steps)
        return new_state, self._metrics(metrics, fitness, grad, meta_env_steps)

    def _metrics(self, metrics, fitness, grad, meta_env_steps):
        returns = metrics["episode_return"]
        finite = jnp.isfinite(returns)
        episodes = jnp.where(finite, metrics["episodes"], 0.0)
        out = {
            "episode_return": jnp.where(
                episodes.sum() > 0,
                jnp.sum(jnp.where(finite, returns * episodes, 0.0))
                / jnp.maximum(episodes.sum(), 1.0),
                jnp.nan,
            ),
            "episodes": jnp.sum(metrics["episodes"]),
            "env_steps": metrics["env_steps"][-1] + meta_env_steps,
            "train/diverged": metrics["train/diverged"][-1],
            # A member reports its failure once, so the max is that code.
            "train/failure": jnp.max(metrics["train/failure"]).astype(jnp.int32),
            "bierl/inner_env_steps": metrics["env_steps"][-1],
            "bierl/meta_env_steps": meta_env_steps,
            "bierl/meta_fitness_mean": jnp.nanmean(fitness),
            "bierl/meta_fitness_std": jnp.nanstd(fitness),
            "bierl/meta_grad_norm": jnp.linalg.norm(grad),
        }
        out["bierl/episode_return"] = returns  # [meta_every], per inner update
        for field, *_ in self.controller.outputs:
            out[f"bierl/{field}"] = metrics[f"control/{field}"]
        skip = {"episode_return", "episodes", "env_steps", "train/diverged",
                "train/failure"}  # fmt: skip
        for name, value in metrics.items():
            if name not in skip and not name.startswith("control/") and value.ndim == 1:
                out[name] = jnp.nanmean(value)
        return out

    def act(self, key, state: BiERLState, obs, deterministic: bool = False):
        return self.learner.act(key, state.inner.learner, obs, deterministic)


def warm_start(hparams: BiERLHParams, state: BiERLState) -> BiERLHParams:
    """`hparams` whose controller starts from `state`'s trained weights (e.g.
    a BiERL run on inverted pendulum, loaded for the target task)."""
    return hparams.replace(ctrl_init=state.phi)
