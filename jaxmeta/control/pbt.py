"""Population-based training (Jaderberg et al. 2017) as an in-graph
population controller.

Every `interval` updates (the run's chunk), `pop_act` ranks the members by
their recent fitness; each member of the bottom `quantile` copies the full
learner state (parameters, optimizer state, normaliser, env carry: whatever
the learner's state holds) of a member drawn uniformly from the top
`quantile`, and explores: with probability `resample_probability` each
searched hparam is drawn anew, uniformly in the search space's unconstrained
box, otherwise it is multiplied by one of `perturb_factors` and clipped to the
dim's bounds. All of it is array indexing inside the jitted program (no host
round trip, no checkpoint reload), so it works with every learner and a
population of 64 stays one program. The contract (ARCHITECTURE.md):

    pop_act(key, pop_ctrl_state, states, hparams, signals)
        -> (states, hparams, pop_ctrl_state, lineage)

signals["fitness"]: [pop] (NaN for a member with no finished episode or a
failed one: it ranks last). lineage: {"parent": [pop] int32, the member copied
from (-1: kept its own), "resampled": [pop] bool} for `run/` to write.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxmeta.search.space import SearchSpace


@struct.dataclass
class PBTState:
    exploits: jnp.ndarray  # [] int32, exploit/explore steps done
    copies: jnp.ndarray  # [pop] int32, times each member was replaced


@dataclasses.dataclass(frozen=True)
class PBT:
    """Static PBT config over `space` (which hparams explore, and their
    bounds) for `population_size` members."""

    space: SearchSpace
    population_size: int
    quantile: float = 0.25
    resample_probability: float = 0.25
    perturb_factors: tuple[float, float] = (0.8, 1.2)

    def __post_init__(self):
        if not isinstance(self.space, SearchSpace) or self.space.dim < 1:
            raise ValueError(
                "space must be a SearchSpace with at least one continuous dim"
            )
        size = self.population_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 2:
            raise ValueError(
                f"population_size must be an int >= 2 for PBT, got {size!r}"
            )
        if not (isinstance(self.quantile, int | float) and 0 < self.quantile <= 0.5):
            raise ValueError(
                f"quantile must lie in (0, 0.5] (the bottom and top fractions), "
                f"got {self.quantile!r}"
            )
        p = self.resample_probability
        if not (isinstance(p, int | float) and 0 <= p <= 1):
            raise ValueError(f"resample_probability must lie in [0, 1], got {p!r}")
        factors = tuple(self.perturb_factors)
        if not factors or any(
            not isinstance(f, int | float) or f <= 0 for f in factors
        ):
            raise ValueError(
                f"perturb_factors must be positive numbers, got {factors!r}"
            )
        object.__setattr__(self, "perturb_factors", tuple(float(f) for f in factors))

    @property
    def num_replaced(self) -> int:
        """Members in each of the bottom and top groups (at least 1)."""
        return max(1, int(np.floor(self.quantile * self.population_size)))

    def init(self, key) -> PBTState:
        return PBTState(jnp.int32(0), jnp.zeros(self.population_size, jnp.int32))

    def _explore(self, key, hparams):
        """Perturb or resample every searched field of hparams ([pop] leaves)."""
        pop, dims = self.population_size, self.space.dims
        key_choice, key_factor, key_resample = jax.random.split(key, 3)
        factors = jnp.asarray(self.perturb_factors, jnp.float32)
        pick = jax.random.randint(key_factor, (pop, len(dims)), 0, factors.size)
        perturbed = {}
        for i, (name, dim) in enumerate(dims.items()):
            value = (
                jnp.asarray(getattr(hparams, name), jnp.float32) * factors[pick[:, i]]
            )
            perturbed[name] = jnp.clip(value, dim.low, dim.high)
        z_perturbed = self.space.from_hparams(hparams.replace(**perturbed))
        z_drawn = self.space.sample(key_resample, pop)
        resample = (
            jax.random.uniform(key_choice, (pop, len(dims))) < self.resample_probability
        )
        z = jnp.where(resample, z_drawn, z_perturbed)
        explored = self.space.to_hparams(z)
        return hparams.replace(**{n: getattr(explored, n) for n in dims}), resample

    def pop_act(self, key, pbt_state: PBTState, states, hparams, signals):
        """One exploit/explore step over the population (leaves `[pop, ...]`).

        Returns `(states, hparams, pbt_state, lineage)` (see the module doc).
        """
        pop, n = self.population_size, self.num_replaced
        key_parent, key_explore = jax.random.split(key)
        fitness = jnp.asarray(signals["fitness"], jnp.float32)
        fitness = jnp.where(jnp.isfinite(fitness), fitness, -jnp.inf)
        order = jnp.argsort(-fitness, stable=True)  # best first; ties by index
        top, bottom = order[:n], order[pop - n :]
        parents = top[jax.random.randint(key_parent, (n,), 0, n)]
        source = jnp.arange(pop).at[bottom].set(parents)
        copied = source != jnp.arange(pop)

        def take(x):
            return x[source]

        states = jax.tree_util.tree_map(take, states)
        inherited = jax.tree_util.tree_map(take, hparams)
        explored, resampled = self._explore(key_explore, inherited)

        def choose(new, old):
            mask = copied.reshape((pop,) + (1,) * (jnp.ndim(new) - 1))
            return jnp.where(mask, new, old)

        hparams = jax.tree_util.tree_map(choose, explored, inherited)
        pbt_state = PBTState(
            pbt_state.exploits + 1, pbt_state.copies + copied.astype(jnp.int32)
        )
        lineage = {
            "parent": jnp.where(copied, source, -1).astype(jnp.int32),
            "resampled": copied & jnp.any(resampled, axis=1),
        }
        return states, hparams, pbt_state, lineage
