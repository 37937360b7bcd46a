"""Directed-MAML (Zhang, Yan and Liu, 2025, arXiv 2510.00212).

Before each second-order meta step, Directed-MAML applies a first-order
task-directed approximation: one inner step of the current meta-parameters
on a representative "medium" task, whose params are estimated from the task
distribution, is written into the meta-parameters; the meta step is then
taken from there. The paper's claim: the directed step stands in for part
of what the expensive second-order gradient does, so fewer meta-iterations
reach the optimum, and it composes with FOMAML and Meta-SGD.

As implemented (docs/maml.md for the choices the paper leaves open): the
medium task is every range field of the task distribution at its midpoint
(`adapt.common.tasks.medium_task`); the directed step is the adapter's own
inner step on `num_episodes` fresh episodes of that task (the built-in
policy-gradient step with the current rates, Meta-SGD's included, or the
learner's update), scaled by `hparams.directed_scale`, with no gradient
through it. `DirectedFOMAML` takes a first-order meta step after it.
"""

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

from jaxmeta.adapt.common.inner import apply_direction
from jaxmeta.adapt.common.tasks import medium_task
from jaxmeta.adapt.maml import MAML, MAMLHParams
from jaxmeta.validation import POSITIVE


@struct.dataclass
class DirectedMAMLHParams(MAMLHParams):
    directed_scale: jax.Array = 1.0  # the directed step, in inner steps


@dataclasses.dataclass(frozen=True, eq=False)
class DirectedMAML(MAML):
    """Static Directed-MAML config: `MAML`'s fields (the directed step has
    none of its own; its size is `hparams.directed_scale`)."""

    hparam_domains = {**MAML.hparam_domains, "directed_scale": POSITIVE}

    def __post_init__(self):
        super().__post_init__()
        medium_task(self.tasks)  # raises for a distribution without ranges

    @property
    def steps_per_iteration(self) -> int:
        episodes = self.num_episodes * self.horizon
        step = episodes if self.learner is None else self.learner.steps_per_update
        return super().steps_per_iteration + step

    def default_hparams(self) -> DirectedMAMLHParams:
        """Defaults as float32 scalars (and the learner's own defaults)."""
        base = super().default_hparams()
        fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)}
        return DirectedMAMLHParams(**fields, directed_scale=jnp.float32(1.0))

    def _pre_step(self, key, meta, hparams):
        """The task-directed step on the medium task; reports its pre-step
        return as `meta/directed_return`."""
        params, inner_lr = meta
        medium = medium_task(self.tasks)
        key_start, key_step = jax.random.split(key)
        step = self.inner_step
        carry = step.start(key_start, params, hparams, medium)
        direction, _, _, stats = step.direction(
            key_step, params, carry, hparams, medium
        )
        lr = jax.tree_util.tree_map(
            lambda x: hparams.directed_scale * x, self._lr(meta, hparams)
        )
        directed = apply_direction(params, direction, lr, True)
        return (directed, inner_lr), {"meta/directed_return": stats["return"]}


@dataclasses.dataclass(frozen=True, eq=False)
class DirectedFOMAML(DirectedMAML):
    """Directed-MAML's task-directed step, then a first-order meta step."""

    first_order: bool = True
