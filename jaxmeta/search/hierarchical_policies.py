"""The manager and worker policies of SAM-HRL-HS (search/hierarchical.py).

All coordinates here are the search box rescaled to the unit cube.

Manager: a stacked GRU/LSTM (`nets.recurrent.StackedRNN`) over a window of
per-generation summaries (`generation_features`) with four heads: worker
logits [max_workers] (inactive workers masked), granularity logits
[num_levels], and a Gaussian over the region offset [dim]. Its action per
trial is (worker k, level l, offset u); the target region of width
w = granularities[l] in each of worker k's dims is centred at
sigmoid(logit(anchor) + w u), where the anchor is the incumbent (the best
point so far), and shifted to lie inside the cube. Dims worker k does not own
stay at the anchor (a region of width 0).

Workers: one feed-forward Gaussian policy (`nets.mlp.GaussianActor`) per
group, stacked on a leading [max_workers] axis. Worker k reads (region
centre, width, owned-dims mask) and samples a position v [dim]; the proposal
is lo + (hi - lo) sigmoid(v), inside the region by construction.
"""

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from jaxmeta.nets.mlp import MLP, GaussianActor
from jaxmeta.nets.recurrent import StackedRNN
from jaxmeta.search.hierarchical_config import owned_dims
from jaxmeta.types import Array, Key

LOG_STD_MIN, LOG_STD_MAX = -4.0, 1.0
# Finite, so masked workers get probability 0 and 0 * log p stays 0 (not NaN).
MASKED_LOGIT = -1e9
ANCHOR_EPS = 1e-3


@struct.dataclass
class Actions:
    """One ask's actions: worker, level [pop] int32; offset (manager) and
    position (worker, pre-squash) [pop, dim]; anchor [dim] the incumbent in
    the unit cube when asked."""

    worker: Array
    level: Array
    offset: Array
    position: Array
    anchor: Array


class Manager(nn.Module):
    """`window: [T, features]`, `mask: [T]` -> (worker logits [num_workers],
    level logits [num_levels], offset mean [dim], offset log std [dim])."""

    hidden: tuple[int, ...]
    cell: str
    num_workers: int
    num_levels: int
    dim: int

    @nn.compact
    def __call__(self, window, mask):
        h = StackedRNN(self.hidden, self.cell, name="core")(window, mask)
        # Small output scales: the first policy is near uniform over workers
        # and levels, and centres regions on the incumbent.
        worker = MLP((), self.num_workers, out_scale=0.01, name="worker")(h)
        level = MLP((), self.num_levels, out_scale=0.01, name="level")(h)
        offset = MLP((), self.dim, out_scale=0.01, name="offset")(h)
        log_std = self.param("offset_log_std", nn.initializers.zeros, (self.dim,))
        return worker, level, offset, log_std


def gaussian_log_prob(x: Array, mean: Array, log_std: Array) -> Array:
    """Elementwise log N(x; mean, exp(log_std)^2), shapes broadcast."""
    return (
        -0.5 * ((x - mean) / jnp.exp(log_std)) ** 2
        - log_std
        - 0.5 * math.log(2 * math.pi)
    )


def categorical_entropy(logits: Array) -> Array:
    """`logits: [n]` -> [] entropy of softmax(logits)."""
    log_p = jax.nn.log_softmax(logits)
    return -jnp.sum(jnp.exp(log_p) * log_p)


@dataclasses.dataclass(frozen=True)
class HierarchicalPolicies:
    """Static sizes and networks of the two levels (see module doc)."""

    dim: int
    population_size: int
    group_index: tuple[int, ...]  # [dim] group of each dim
    num_groups: int  # max_workers
    granularities: tuple[float, ...]
    manager_hidden: tuple[int, ...]
    worker_hidden: tuple[int, ...]
    cell: str
    history: int

    @property
    def manager(self) -> Manager:
        return Manager(
            self.manager_hidden, self.cell, self.num_groups,
            len(self.granularities), self.dim,
        )  # fmt: skip

    @property
    def worker(self) -> GaussianActor:
        return GaussianActor(self.dim, self.worker_hidden)

    @property
    def num_features(self) -> int:
        return 2 * self.num_groups + 2 * len(self.granularities) + 2 * self.dim + 4

    def init(self, key: Key) -> dict:
        """Network weights {"manager", "workers" (leading [max_workers])}."""
        key_manager, key_workers = jax.random.split(key)
        window = jnp.zeros((self.history, self.num_features))
        manager = self.manager.init(key_manager, window, jnp.zeros(self.history, bool))
        workers = jax.vmap(self.worker.init, in_axes=(0, None))(
            jax.random.split(key_workers, self.num_groups),
            jnp.zeros(2 * self.dim + 1),
        )
        return {"manager": manager, "workers": workers}

    def window_mask(self, generation: Array) -> Array:
        """[T] bool: the window rows filled after `generation` tells (newest
        last)."""
        filled = jnp.minimum(generation, self.history)
        return jnp.arange(self.history) >= self.history - filled

    def manager_heads(self, params, window, generation, num_workers):
        """The manager's heads after `generation` tells: (worker logits
        [max_workers], inactive ones masked; level logits [num_levels];
        offset mean [dim]; offset log std [dim], clipped)."""
        worker, level, offset, log_std = self.manager.apply(
            params["manager"], window, self.window_mask(generation)
        )
        active = jnp.arange(self.num_groups) < jnp.clip(num_workers, 1, self.num_groups)
        worker = jnp.where(active, worker, MASKED_LOGIT)
        return worker, level, offset, jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX)

    def region(self, actions: Actions, num_workers: Array):
        """The target regions of `actions`: (centre, width [pop, 1], owned
        [pop, dim] bool, lo, hi), centre/lo/hi [pop, dim] in the unit cube."""
        width = jnp.asarray(self.granularities, jnp.float32)[actions.level][:, None]
        owned = owned_dims(jnp.asarray(self.group_index), actions.worker, num_workers)
        anchor = jnp.clip(actions.anchor, ANCHOR_EPS, 1.0 - ANCHOR_EPS)
        logit_anchor = jnp.log(anchor) - jnp.log1p(-anchor)
        centre = jax.nn.sigmoid(logit_anchor + width * actions.offset)
        lo = jnp.clip(centre - width / 2, 0.0, 1.0 - width)
        lo = jnp.where(owned, lo, actions.anchor)
        hi = jnp.where(owned, lo + width, actions.anchor)
        return centre, width, owned, lo, hi

    def _worker(self, params, centre, width, owned, worker):
        """Chosen workers' Gaussians: (mean [pop, dim], log std [pop, dim])."""
        inputs = jnp.concatenate(
            [jnp.where(owned, centre, 0.0), width, owned.astype(jnp.float32)], -1
        )
        mean, log_std = jax.vmap(self.worker.apply, in_axes=(0, None))(
            params["workers"], inputs
        )  # [max_workers, pop, dim], [max_workers, dim]
        mean = mean[worker, jnp.arange(self.population_size)]
        return mean, jnp.clip(log_std[worker], LOG_STD_MIN, LOG_STD_MAX)

    def propose(self, key, params, window, generation, anchor, num_workers):
        """A population of proposals.

        window: [T, features]; generation: [] tells so far; anchor: [dim]
        incumbent in the unit cube; num_workers: [] active workers.
        Returns (unit points [pop, dim], Actions, lo [pop, dim], hi [pop, dim]).
        """
        pop, dim = self.population_size, self.dim
        key_worker, key_level, key_offset, key_position = jax.random.split(key, 4)
        worker_logits, level_logits, offset_mean, offset_log_std = self.manager_heads(
            params, window, generation, num_workers
        )
        actions = Actions(
            worker=jax.random.categorical(key_worker, worker_logits, shape=(pop,)),
            level=jax.random.categorical(key_level, level_logits, shape=(pop,)),
            offset=offset_mean
            + jnp.exp(offset_log_std) * jax.random.normal(key_offset, (pop, dim)),
            position=jnp.zeros((pop, dim)),
            anchor=anchor,
        )
        centre, width, owned, lo, hi = self.region(actions, num_workers)
        mean, log_std = self._worker(params, centre, width, owned, actions.worker)
        position = mean + jnp.exp(log_std) * jax.random.normal(key_position, mean.shape)
        unit = jnp.where(owned, lo + (hi - lo) * jax.nn.sigmoid(position), anchor)
        return unit, actions.replace(position=position), lo, hi

    def log_probs(self, params, window, generation, actions, num_workers):
        """Log-probabilities of the asked actions under `params`: (manager
        [pop], workers [pop], entropy [] of the worker and level choices).
        Only owned dims count: the others do not change the proposal."""
        worker_logits, level_logits, offset_mean, offset_log_std = self.manager_heads(
            params, window, generation, num_workers
        )
        centre, width, owned, _, _ = self.region(actions, num_workers)
        pick = jax.nn.log_softmax(worker_logits)[actions.worker]
        pick = pick + jax.nn.log_softmax(level_logits)[actions.level]
        offset = gaussian_log_prob(actions.offset, offset_mean, offset_log_std)
        manager = pick + jnp.sum(jnp.where(owned, offset, 0.0), -1)
        mean, log_std = self._worker(params, centre, width, owned, actions.worker)
        position = gaussian_log_prob(actions.position, mean, log_std)
        workers = jnp.sum(jnp.where(owned, position, 0.0), -1)
        entropy = categorical_entropy(worker_logits) + categorical_entropy(level_logits)
        return manager, workers, entropy

    def generation_features(
        self, actions, rewards, best_unit, incumbent, improved, generation
    ):
        """One window row `[features]` summarising a told generation: per
        worker and per level the share of trials and their mean reward, the
        incumbent [dim] and the generation's best point [dim] (unit cube),
        max and mean reward, whether the incumbent improved, and the budget
        spent (log-scaled generations)."""

        def share_and_reward(choice, n):
            onehot = jax.nn.one_hot(choice, n)
            count = onehot.sum(0)
            mean = (onehot * rewards[:, None]).sum(0) / jnp.maximum(count, 1.0)
            return [count / self.population_size, mean]

        budget = jnp.log1p(generation + 1.0) / math.log(100.0)
        scalars = jnp.stack(
            [rewards.max(), rewards.mean(), improved.astype(jnp.float32), budget]
        )
        parts = share_and_reward(actions.worker, self.num_groups)
        parts += share_and_reward(actions.level, len(self.granularities))
        return jnp.concatenate([*parts, incumbent, best_unit, scalars])
