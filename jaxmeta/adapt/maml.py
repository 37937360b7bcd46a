"""MAML for RL (Finn et al., 2017), FOMAML, and Meta-SGD (Li et al., 2017).

One meta-iteration: sample a meta-batch of tasks; for each task (a vmap)
take `inner_steps` policy-gradient steps from the meta-parameters, each on
`num_episodes` fresh episodes of the current adapted policy; sample fresh
episodes of the adapted policy and differentiate the post-adaptation
surrogate through the inner steps (`jax.grad` through a `lax.scan`); one
outer step (Adam or TRPO) up the mean over tasks.

The inner step is the built-in REINFORCE step with a per-task linear feature
baseline, or, with `learner=`, one update of a registered on-policy learner
(PPO, REINFORCE, TRPO) started from `state.replace(params=adapted_params)`.
`estimator` (docs/maml.md): "dice" (default) differentiates the DiCE inner
objective, an unbiased estimate of J's Hessian; "maml-rl" the plain score
surrogate of Finn et al.'s code (its Hessian lacks the score outer
product); "full" the plain surrogate plus the score of the pre-update
samples, the exact gradient of the sampled meta-objective. `first_order`
(FOMAML) stops the gradient through the inner directions; `meta_sgd` learns
a rate per parameter.
"""

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxmeta.adapt.base import MetaState, StaticConfig
from jaxmeta.adapt.common.episodes import mean_return
from jaxmeta.adapt.common.evaluate import adaptation_returns
from jaxmeta.adapt.common.inner import LearnerStep, PolicyGradientStep, inner_loop
from jaxmeta.adapt.common.outer import (
    OUTER_OPTIMIZERS,
    adam_ascent,
    adam_init,
    post_adaptation_kl,
    trpo_ascent,
)
from jaxmeta.adapt.common.surrogate import (
    BASELINES,
    ESTIMATORS,
    discounted_value,
    importance_surrogate,
    magic_box,
)
from jaxmeta.adapt.common.tasks import (
    check_meta_batch,
    resolve_tasks,
    sample_meta_batch,
)
from jaxmeta.adapt.common.validate import check_config
from jaxmeta.learners.base import all_finite, check_hparams, env_steps
from jaxmeta.learners.common.policy import policy_head_for
from jaxmeta.validation import NONNEGATIVE, POSITIVE, Domain


@struct.dataclass
class MAMLHParams:
    inner_lr: jax.Array = 0.1  # the inner step size (Meta-SGD: the rates' start)
    outer_lr: jax.Array = 1e-3  # Adam's
    gamma: jax.Array = 0.99
    baseline_reg: jax.Array = 1e-5  # ridge of the linear baseline (rllab)
    max_kl: jax.Array = 0.01  # TRPO's bound on the post-adaptation policies
    cg_damping: jax.Array = 1e-3  # TRPO's
    learner_hparams: Any = None  # the inner learner's hparams (with learner=)


@dataclasses.dataclass(frozen=True, eq=False)
class MAML(StaticConfig):
    """Static MAML config. `env`: gymnax-contract env; `tasks`: its task
    distribution (None: the env's own, see `adapt.common.tasks`)."""

    env: object
    tasks: object = None
    hidden: tuple[int, ...] = (100, 100)
    activation: str = "relu"
    inner_steps: int = 1
    meta_batch_size: int = 20
    num_episodes: int = 20  # trajectories per task and inner step
    horizon: int = 100
    first_order: bool = False
    meta_sgd: bool = False
    outer_optimizer: str = "adam"
    baseline: str = "linear"
    estimator: str = "dice"
    task_pool: int | None = None  # None: fresh tasks; else a fixed pool
    pool_seed: int = 0
    learner: object = None  # an OnPolicyLearner: its update is the inner step
    cg_iters: int = 10
    line_search_steps: int = 15
    backtrack_ratio: float = 0.8

    hparam_domains = {
        "inner_lr": POSITIVE,
        "outer_lr": POSITIVE,
        "gamma": Domain(0.0, 1.0),
        "baseline_reg": NONNEGATIVE,
        "max_kl": POSITIVE,
        "cg_damping": NONNEGATIVE,
    }

    def __post_init__(self):
        check_config(self, OUTER_OPTIMIZERS, BASELINES, ESTIMATORS)
        object.__setattr__(self, "tasks", resolve_tasks(self.env, self.tasks))
        check_meta_batch(self.meta_batch_size, self.task_pool)

    @property
    def head(self):
        return policy_head_for(self.env, self.env.default_params)

    @property
    def actor(self):
        """The policy network (the learner's, with `learner=`)."""
        owner = self if self.learner is None else self.learner
        return self.head.actor(tuple(owner.hidden), owner.activation)

    @property
    def policy_step(self) -> PolicyGradientStep:
        """The built-in step; also the outer surrogate's sampler."""
        second_order = "dice" if self.estimator == "dice" else "score"
        return PolicyGradientStep(
            self.env, self.head, self.actor, self.num_episodes, self.horizon,
            self.baseline, second_order,
        )  # fmt: skip

    @property
    def inner_step(self):
        if self.learner is None:
            return self.policy_step
        return LearnerStep(self.learner)

    @property
    def steps_per_iteration(self) -> int:
        """Env steps one meta-iteration samples (nominal)."""
        episodes = self.num_episodes * self.horizon
        inner = episodes if self.learner is None else self.learner.steps_per_update
        return self.meta_batch_size * (self.inner_steps * inner + episodes)

    def default_hparams(self) -> MAMLHParams:
        """Defaults as float32 scalars (and the learner's own defaults)."""
        hparams = jax.tree_util.tree_map(
            lambda x: jnp.asarray(x, jnp.float32), MAMLHParams()
        )
        if self.learner is not None:
            hparams = hparams.replace(learner_hparams=self.learner.default_hparams())
        return hparams

    def init(self, key, hparams) -> MetaState:
        """Fresh policy weights (the learner's params with `learner=`), the
        Meta-SGD rates (all `hparams.inner_lr`) and the outer optimiser."""
        check_hparams(self, hparams)
        base = self.tasks.base_params
        if self.learner is not None:
            params = self.learner.init(key, hparams.learner_hparams, base).params
        else:
            key_reset, key_actor = jax.random.split(key)
            obs, _ = self.env.reset(key_reset, base)
            params = {"actor": self.actor.init(key_actor, jnp.reshape(obs, (1, -1)))}
        inner_lr = ()
        if self.meta_sgd:
            inner_lr = jax.tree_util.tree_map(
                lambda p: jnp.full_like(p, hparams.inner_lr), params
            )
        opt_state = ()
        if self.outer_optimizer == "adam":
            opt_state = adam_init((params, inner_lr), hparams)
        zero, false = jnp.asarray(0, jnp.int32), jnp.asarray(False)
        return MetaState(params, inner_lr, opt_state, zero, false)

    def _lr(self, meta, hparams):
        if self.learner is not None:
            return jnp.float32(1.0)
        return meta[1] if self.meta_sgd else hparams.inner_lr

    def task_objective(self, key, meta, hparams, env_params, replay=None):
        """The post-adaptation surrogate of one task, differentiable in `meta`
        = (params, inner_lr). replay: None, or `aux["episodes"]` of an
        earlier call (`(inner [K, ...], outer)`) to re-evaluate on its samples.

        Returns `([] surrogate, aux)`: aux holds `pre_return`, `post_return`
        (mean undiscounted returns before and after adapting), `value` (the
        outer batch's discounted J estimate), `score` (the inner batches'
        total log-probability), `episodes` and `adapted` params.
        """
        key_inner, key_outer = jax.random.split(key)
        inner_replay, outer_replay = (None, None) if replay is None else replay
        adapted, inner, stats = inner_loop(
            key_inner, meta[0], self._lr(meta, hparams), self.inner_step, hparams,
            env_params, self.inner_steps, self.first_order, inner_replay,
        )  # fmt: skip
        pg = self.policy_step
        outer = outer_replay
        if outer is None:
            outer = pg.sample(key_outer, jax.lax.stop_gradient(adapted), env_params)
        baseline = pg.baseline_of(outer, hparams)
        log_prob = pg.log_prob(adapted, outer)
        surrogate = importance_surrogate(log_prob, outer, baseline, hparams.gamma)
        aux = {
            "pre_return": stats["return"][0],
            "post_return": mean_return(outer),
            "value": discounted_value(outer, hparams.gamma),
            "score": jnp.sum(stats.get("log_prob", jnp.zeros(1))),
            "episodes": (inner, outer),
            "adapted": adapted,
        }
        return surrogate, aux

    def meta_objective(self, key, meta, hparams, tasks, replay=None):
        """[] the meta-objective: mean over the meta-batch `tasks` (leaves
        `[M, ...]`, vmapped) of `task_objective`; the "full" estimator adds
        each task's score times its leave-one-out-centred value.
        Returns `(objective, aux)`, aux leaves `[M, ...]`."""
        keys = jax.random.split(key, self.meta_batch_size)
        values, aux = jax.vmap(self.task_objective, in_axes=(0, None, None, 0, 0))(
            keys, meta, hparams, tasks, replay
        )
        if self.estimator == "full":
            value = jax.lax.stop_gradient(aux["value"])
            size = self.meta_batch_size
            # Other tasks' values are independent of this task's samples.
            centre = (jnp.sum(value) - value) / max(size - 1, 1) if size > 1 else 0.0
            values = values + (magic_box(aux["score"]) - 1.0) * (value - centre)
        return jnp.mean(values), aux

    def _pre_step(self, key, meta, hparams):
        """Directed-MAML's hook before the meta step (MAML: none)."""
        return meta, {}

    def meta_update(self, key, state: MetaState, hparams):
        """One meta-iteration. Returns `(state, metrics)`: `episode_return` (=
        `meta/post_return`), `meta/pre_return`, `meta/objective`,
        `meta/grad_norm`, `meta/diverged`, `env_steps` ([] int32), and
        `meta/inner_lr` (Meta-SGD), `meta/kl`, `meta/step_fraction`,
        `meta/improvement` (TRPO), `meta/directed_return` (Directed-MAML)."""
        key_pre, key_tasks, key_meta = jax.random.split(key, 3)
        meta, metrics = self._pre_step(key_pre, (state.params, state.inner_lr), hparams)
        tasks = sample_meta_batch(
            key_tasks, self.tasks, self.meta_batch_size, self.task_pool, self.pool_seed
        )
        (value, aux), grad = jax.value_and_grad(
            self.meta_objective, argnums=1, has_aux=True
        )(key_meta, meta, hparams, tasks)
        opt_state = state.opt_state
        if self.outer_optimizer == "adam":
            new_meta, opt_state = adam_ascent(meta, grad, opt_state, hparams)
        else:
            new_meta, info = self._trpo(
                key_meta, meta, value, grad, hparams, tasks, aux
            )
            metrics.update({f"meta/{k}": v for k, v in info.items()})
        # A non-finite step is rejected: the member keeps its state, flagged.
        accept = all_finite(new_meta) & jnp.isfinite(value) & ~state.diverged
        old = ((state.params, state.inner_lr), state.opt_state)
        kept = jax.tree_util.tree_map(
            lambda n, o: jnp.where(accept, n, o), (new_meta, opt_state), old
        )
        (params, inner_lr), opt_state = kept
        count = state.update_count + 1
        diverged = state.diverged | ~accept
        new_state = MetaState(params, inner_lr, opt_state, count, diverged)
        post = jnp.nanmean(aux["post_return"])
        metrics.update({
            "episode_return": post,
            "meta/post_return": post,
            "meta/pre_return": jnp.nanmean(aux["pre_return"]),
            "meta/objective": value,
            "meta/grad_norm": optax.tree.norm(grad),
            "meta/diverged": diverged.astype(jnp.float32),
            "env_steps": env_steps(count, self.steps_per_iteration),
        })  # fmt: skip
        if self.meta_sgd:
            rates = jnp.concatenate([jnp.ravel(x) for x in jax.tree.leaves(inner_lr)])
            metrics["meta/inner_lr"] = jnp.mean(rates)
        return new_state, metrics

    def _trpo(self, key, meta, value, grad, hparams, tasks, aux):
        """TRPO's step, replaying this iteration's samples at every candidate."""
        replay = aux["episodes"]
        old = jax.lax.stop_gradient(aux["adapted"]["actor"])

        def replayed(candidate):
            return self.meta_objective(key, candidate, hparams, tasks, replay)

        def kl(candidate):
            new = replayed(candidate)[1]["adapted"]["actor"]
            return post_adaptation_kl(self.actor, self.head, old, new, replay[1])

        return trpo_ascent(
            lambda m: replayed(m)[0], kl, meta, value, grad, hparams,
            self.cg_iters, self.line_search_steps, self.backtrack_ratio,
        )  # fmt: skip

    def adapt(self, key, state: MetaState, hparams, env_params, num_steps: int):
        """Mean undiscounted return `[num_steps + 1]` of `num_episodes` fresh
        episodes on the task `env_params` after 0, 1, ..., num_steps inner
        steps from the meta-learned params (first order: nothing is
        differentiated). Vmap over `env_params` for held-out tasks."""
        meta = (state.params, state.inner_lr)
        return adaptation_returns(
            key, meta[0], self._lr(meta, hparams), self.inner_step,
            self.policy_step, self.learner is None, hparams, env_params, num_steps,
        )  # fmt: skip


@dataclasses.dataclass(frozen=True, eq=False)
class FOMAML(MAML):
    """First-order MAML: the gradient through the inner directions is
    stopped, so the meta-gradient is the post-adaptation gradient itself."""

    first_order: bool = True
