"""SAM-HRL-HS (seeds/000): a recurrent manager picks, for every trial, a worker
and a target region of some granularity; the worker (a feed-forward Gaussian
policy over one group of hparams) proposes a config inside that region. Both
levels learn by policy gradient with an advantage, with Adam, in `tell`.

One ask draws the whole population from the manager's state after the last
tell; the population's scores (the told HyperScore) are the rewards. The
policies and their regions are in `hierarchical_policies.py`, the
hparam -> worker groups in `hierarchical_config.py`; docs/sam_hrl_hs.md
records every choice the seed leaves open.

Rewards and advantage. The reward of a trial is its improvement on the
incumbent (the best score before this generation; the generation's median
before any), in units of the generation's score spread:
r = clip((s - incumbent) / std(s), 0, 3), and r = -1 for a failed trial
(NaN). Its mean is the expected improvement of the manager's and workers'
proposals in HyperScore units, so the shape of the (calibrated) HyperScore
matters, not just its order. The advantage is r - b with a running baseline
b, an exponential moving average over generations of the generation's mean
reward (decay `baseline_decay`; 0 is the plain generation mean).
"""

import dataclasses
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxmeta.search.base import (
    check_scores,
    empty_record,
    population_z,
    record_tell,
    rescored_record,
    sanitise_scores,
    tell_metrics,
)
from jaxmeta.search.hierarchical_config import checked_config, group_of_dim
from jaxmeta.search.hierarchical_policies import Actions, HierarchicalPolicies
from jaxmeta.search.space import SearchSpace
from jaxmeta.types import Array, Key, Metrics, PyTree

REWARD_CLIP = 3.0
FAILED_REWARD = -1.0
GRAD_CLIP = 1.0


@struct.dataclass
class HierarchicalParams:
    """Traced meta-parameters: num_workers [] int32 active workers (clipped to
    1..max_workers: a masked maximum, so it can vary inside one program);
    manager/worker_learning_rate [] Adam rates; entropy_coef [] bonus on the
    manager's worker and level choices; baseline_decay [] in [0, 1)."""

    num_workers: Array
    manager_learning_rate: Array
    worker_learning_rate: Array
    entropy_coef: Array
    baseline_decay: Array


@struct.dataclass
class HierarchicalState:
    params: dict  # {"manager", "workers"} network weights
    opt_state: dict  # {"manager", "workers"} Adam states
    window: Array  # [history, features] summaries of the last tells, newest last
    baseline: Array  # [] running baseline of the rewards
    actions: Actions  # the last ask's actions
    asked_lo: Array  # [pop, dim] target regions of the last ask (unit cube)
    asked_hi: Array  # [pop, dim]
    best_z: Array  # [dim] best evaluated point so far (unconstrained)
    best_score: Array  # [] float32, -inf until a finite score is told
    generation: Array  # [] int32, number of tells so far


def _optimiser(learning_rate) -> optax.GradientTransformation:
    return optax.chain(optax.clip_by_global_norm(GRAD_CLIP), optax.adam(learning_rate))


def _rewards(scores: Array, invalid: Array, best: Array) -> Array:
    """`scores: [pop]` (sanitised), `best: []` incumbent's score before this
    generation -> rewards [pop] (module doc)."""
    valid = ~invalid
    n = jnp.maximum(jnp.sum(valid), 1)
    mean = jnp.sum(jnp.where(valid, scores, 0.0)) / n
    std = jnp.sqrt(jnp.sum(jnp.where(valid, (scores - mean) ** 2, 0.0)) / n)
    std = jnp.where(std > 1e-12, std, 1.0)
    finite = jnp.where(valid, scores, jnp.nan)
    median = jnp.where(jnp.any(valid), jnp.nanmedian(finite), 0.0)
    reference = jnp.where(jnp.isfinite(best), best, median)
    r = jnp.clip((scores - reference) / std, 0.0, REWARD_CLIP)
    return jnp.where(invalid, FAILED_REWARD, r)


@dataclasses.dataclass(frozen=True)
class HierarchicalSearch:
    """Static config of SAM-HRL-HS over `space`, `population_size` trials per ask.

    groups: None (dims placed by name, `hierarchical_config.DEFAULT_GROUPS`,
    unclaimed dims in "other") or a table group -> dims; one worker per group
    at most. num_workers: default active workers (None: one per group; the
    traced `HierarchicalParams.num_workers` overrides it). granularities:
    the region widths the manager chooses from, each a fraction of a dim's
    range in (0, 1]. history: generations the manager's window holds.
    manager_hidden: the recurrent layers' widths (the seed: two layers);
    cell: "gru" or "lstm". worker_hidden: each worker's hidden layers.
    manager/worker_learning_rate, entropy_coef, baseline_decay: the defaults
    of the traced `HierarchicalParams`.
    """

    space: SearchSpace
    population_size: int
    groups: Any = None
    num_workers: int | None = None
    granularities: tuple[float, ...] = (1.0, 0.5, 0.25, 0.1)
    history: int = 8
    manager_hidden: tuple[int, ...] = (32, 32)
    worker_hidden: tuple[int, ...] = (16,)
    cell: str = "gru"
    manager_learning_rate: float = 3e-3
    worker_learning_rate: float = 3e-3
    entropy_coef: float = 0.01
    baseline_decay: float = 0.5

    def __post_init__(self):
        for name, value in checked_config(self).items():
            object.__setattr__(self, name, value)

    @property
    def policies(self) -> HierarchicalPolicies:
        return HierarchicalPolicies(
            self.space.dim, self.population_size,
            group_of_dim(self.groups, self.space.names), len(self.groups),
            self.granularities, self.manager_hidden, self.worker_hidden,
            self.cell, self.history,
        )  # fmt: skip

    def default_meta_params(self) -> HierarchicalParams:
        return HierarchicalParams(
            num_workers=jnp.int32(self.num_workers or len(self.groups)),
            manager_learning_rate=jnp.float32(self.manager_learning_rate),
            worker_learning_rate=jnp.float32(self.worker_learning_rate),
            entropy_coef=jnp.float32(self.entropy_coef),
            baseline_decay=jnp.float32(self.baseline_decay),
        )

    def _unit(self, z: Array) -> Array:
        low, high = self.space.bounds
        return (z - low) / (high - low)

    @partial(jax.jit, static_argnames=("self",))
    def init(self, key: Key, meta_params: HierarchicalParams) -> HierarchicalState:
        """Fresh networks and Adam states, an empty window and record."""
        policies, pop, dim = self.policies, self.population_size, self.space.dim
        params = policies.init(key)
        opt_state = {
            "manager": _optimiser(0.0).init(params["manager"]),
            "workers": _optimiser(0.0).init(params["workers"]),
        }
        record = empty_record(self.space)
        actions = Actions(
            worker=jnp.zeros(pop, jnp.int32),
            level=jnp.zeros(pop, jnp.int32),
            offset=jnp.zeros((pop, dim)),
            position=jnp.zeros((pop, dim)),
            anchor=self._unit(record["best_z"]),
        )
        return HierarchicalState(
            params=params,
            opt_state=opt_state,
            window=jnp.zeros((self.history, policies.num_features)),
            baseline=jnp.float32(0.0),
            actions=actions,
            asked_lo=jnp.zeros((pop, dim)),
            asked_hi=jnp.ones((pop, dim)),
            **record,
        )

    @partial(jax.jit, static_argnames=("self",))
    def ask(
        self, key: Key, state: HierarchicalState, meta_params: HierarchicalParams
    ) -> tuple[PyTree, HierarchicalState]:
        """-> (hparams with leaves `[population_size]`, state holding the
        actions and target regions)."""
        unit, actions, lo, hi = self.policies.propose(
            key, state.params, state.window, state.generation,
            self._unit(state.best_z), meta_params.num_workers,
        )  # fmt: skip
        low, high = self.space.bounds
        hparams = self.space.to_hparams(low + unit * (high - low))
        return hparams, state.replace(actions=actions, asked_lo=lo, asked_hi=hi)

    @partial(jax.jit, static_argnames=("self",))
    def tell(
        self,
        key: Key,
        hparams_population: PyTree,
        scores: Array,
        state: HierarchicalState,
        meta_params: HierarchicalParams,
    ) -> tuple[HierarchicalState, Metrics]:
        """One policy-gradient step of manager and workers on `scores: [pop]`
        (higher is better; NaN/inf = failed) for the preceding ask's actions."""
        del key
        z = population_z(self.space, hparams_population, self.population_size)
        scores, invalid = sanitise_scores(check_scores(scores, self.population_size))
        rewards = _rewards(scores, invalid, state.best_score)
        decay = meta_params.baseline_decay
        baseline = jnp.where(
            state.generation == 0,
            rewards.mean(),
            decay * state.baseline + (1 - decay) * rewards.mean(),
        )
        advantage = rewards - baseline

        def loss(params):
            manager, workers, entropy = self.policies.log_probs(
                params, state.window, state.generation, state.actions,
                meta_params.num_workers,
            )  # fmt: skip
            surrogate = jnp.mean(advantage * manager) + jnp.mean(advantage * workers)
            return -surrogate - meta_params.entropy_coef * entropy, entropy

        grads, entropy = jax.grad(loss, has_aux=True)(state.params)
        rates = {
            "manager": meta_params.manager_learning_rate,
            "workers": meta_params.worker_learning_rate,
        }
        params, opt_state = {}, {}
        for part, rate in rates.items():
            updates, opt_state[part] = _optimiser(rate).update(
                grads[part], state.opt_state[part], state.params[part]
            )
            params[part] = optax.apply_updates(state.params[part], updates)
        record = record_tell(state, z, scores)
        row = self.policies.generation_features(
            state.actions, rewards, self._unit(z[jnp.argmax(scores)]),
            self._unit(record["best_z"]), record["best_score"] > state.best_score,
            state.generation,
        )  # fmt: skip
        window = jnp.roll(state.window, -1, axis=0).at[-1].set(row)
        state = state.replace(
            params=params, opt_state=opt_state, window=window, baseline=baseline,
            **record,
        )  # fmt: skip
        metrics = tell_metrics(scores, invalid, state.best_score)
        widths = jnp.asarray(self.granularities)[state.actions.level]
        metrics.update(
            {
                "meta/mean_granularity": widths.mean(),
                "meta/baseline": baseline,
                "meta/choice_entropy": entropy,
            }
        )
        return state, metrics

    def rescore(self, state, z: Array, scores: Array, mask: Array):
        """Every told point's score replaced (see `Searcher.rescore`): the
        best-so-far record, which the next rewards are measured from, is
        rebuilt from z [n, dim], scores [n] (NaN = failed), mask [n]. The
        manager's window keeps the rewards it observed (its past inputs)."""
        return state.replace(**rescored_record(self.space, z, scores, mask))

    def choice_probabilities(
        self, state: HierarchicalState, meta_params: HierarchicalParams
    ) -> tuple[Array, Array]:
        """The manager's choice probabilities for the next ask: (workers
        [max_workers], granularity levels [num_levels])."""
        worker, level, _, _ = self.policies.manager_heads(
            state.params, state.window, state.generation, meta_params.num_workers
        )
        return jax.nn.softmax(worker), jax.nn.softmax(level)

    def trial_mask(self, state) -> Array:
        """[pop] bool: every member of an ask is a real trial."""
        return jnp.ones(self.population_size, bool)

    def best_hparams(self, state: HierarchicalState) -> PyTree:
        """The best config seen so far, unbatched hparams."""
        return self.space.to_hparams(state.best_z)
