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

from jaxmeta.learners.common.evaluate import act_init, act_step
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


@struct.dataclass
class PBTLearnerState:
    members: object  # the learner's states, leaves [members, ...]
    hparams: object  # the members' current hparams, leaves [members]
    fitness: (
        jnp.ndarray
    )  # [members] mean finished-episode return since the last exploit
    episodes: jnp.ndarray  # [members] episodes counted in `fitness`
    last: jnp.ndarray  # [members] fitness over the last full interval (-inf: none)
    pbt: PBTState
    update_count: jnp.ndarray  # [] int32

    @property
    def params(self):
        return self.members.params

    @property
    def diverged(self):
        return jnp.all(self.members.diverged)

    @property
    def env(self):
        return self.members.env


@dataclasses.dataclass(frozen=True)
class PBTLearner:
    """A whole PBT population as one learner: `pbt.population_size` members
    of `learner` updated together, an exploit/explore step every `interval`
    updates (applied in-graph with a mask, so the learner vmaps over seeds
    like any other). Initial hparams are drawn uniformly in `pbt.space`;
    `act` uses the member with the best recent fitness. Its env steps are the
    members' sum, so comparisons at equal env steps charge PBT for every
    member."""

    learner: object
    pbt: PBT
    interval: int = 10

    def __post_init__(self):
        if (
            isinstance(self.interval, bool)
            or not isinstance(self.interval, int)
            or (self.interval < 1)
        ):
            raise ValueError(f"interval must be a positive int, got {self.interval!r}")

    @property
    def env(self):
        return self.learner.env

    @property
    def steps_per_update(self) -> int:
        return self.pbt.population_size * self.learner.steps_per_update

    def default_hparams(self):
        return self.learner.default_hparams()

    def init(self, key, hparams, env_params) -> PBTLearnerState:
        """Members with hparams drawn in the space (the rest from `hparams`)."""
        n, space = self.pbt.population_size, self.pbt.space
        key_hparams, key_members, key_pbt = jax.random.split(key, 3)
        drawn = space.to_hparams(space.sample(key_hparams, n))
        members_hparams = jax.tree_util.tree_map(
            lambda x: jnp.broadcast_to(x, (n,) + jnp.shape(x)), hparams
        ).replace(**{name: getattr(drawn, name) for name in space.names})
        keys = jax.random.split(key_members, n)
        members = jax.vmap(self.learner.init, in_axes=(0, 0, None))(
            keys, members_hparams, env_params
        )
        zeros = jnp.zeros(n, jnp.float32)
        return PBTLearnerState(
            members,
            members_hparams,
            zeros,
            zeros,
            jnp.full(n, -jnp.inf),
            self.pbt.init(key_pbt),
            jnp.int32(0),
        )

    def update(self, key, state: PBTLearnerState, hparams, env_params):
        """Every member's update, then (every `interval`) exploit/explore."""
        n = self.pbt.population_size
        key_members, key_pbt = jax.random.split(key)
        members, metrics = jax.vmap(self.learner.update, in_axes=(0, 0, 0, None))(
            jax.random.split(key_members, n), state.members, state.hparams, env_params
        )
        returns, count = metrics["episode_return"], metrics["episodes"]
        seen = jnp.isfinite(returns) & (count > 0)
        episodes = state.episodes + jnp.where(seen, count, 0.0)
        total = state.fitness * state.episodes + jnp.where(seen, returns * count, 0.0)
        fitness = jnp.where(episodes > 0, total / jnp.maximum(episodes, 1.0), 0.0)
        ready = (state.update_count + 1) % self.interval == 0
        signals = {
            "fitness": jnp.where((episodes > 0) & ~members.diverged, fitness, jnp.nan)
        }
        new_members, new_hparams, pbt_state, lineage = self.pop_act_masked(
            key_pbt, state.pbt, members, state.hparams, signals, ready
        )
        current = jnp.where(
            jnp.isfinite(signals["fitness"]), signals["fitness"], -jnp.inf
        )
        best = jnp.argmax(current)
        # After an exploit the slots hold copies: their record restarts.
        last = jnp.where(ready, current[lineage["source"]], state.last)
        new_state = PBTLearnerState(
            new_members,
            new_hparams,
            jnp.where(ready, 0.0, fitness),
            jnp.where(ready, 0.0, episodes),
            last,
            pbt_state,
            state.update_count + 1,
        )
        total_episodes = jnp.sum(jnp.where(seen, count, 0.0))
        out = {
            "episode_return": jnp.where(
                total_episodes > 0,
                jnp.sum(jnp.where(seen, returns * count, 0.0))
                / jnp.maximum(total_episodes, 1.0),
                jnp.nan,
            ),
            "episodes": total_episodes,
            "env_steps": jnp.sum(metrics["env_steps"]).astype(jnp.int32),
            "train/diverged": jnp.mean(metrics["train/diverged"]),
            "train/failure": jnp.max(metrics["train/failure"]).astype(jnp.int32),
            "pbt/best_member": best.astype(jnp.float32),
            "pbt/copies": jnp.sum(lineage["parent"] >= 0).astype(jnp.float32),
        }
        for name in self.pbt.space.names:
            out[f"pbt/{name}"] = jnp.asarray(getattr(state.hparams, name))[best]
        return new_state, out

    def pop_act_masked(self, key, pbt_state, members, hparams, signals, ready):
        """`pbt.pop_act` where `ready`, else everything unchanged."""
        new = self.pbt.pop_act(key, pbt_state, members, hparams, signals)

        def pick(a, b):
            return jnp.where(ready, a, b)

        members = jax.tree_util.tree_map(pick, new[0], members)
        hparams = jax.tree_util.tree_map(pick, new[1], hparams)
        pbt_state = jax.tree_util.tree_map(pick, new[2], pbt_state)
        parent = jnp.where(ready, new[3]["parent"], -1)
        source = jnp.where(parent >= 0, parent, jnp.arange(parent.shape[0]))
        return members, hparams, pbt_state, {"parent": parent, "source": source}

    def chosen_member(self, state: PBTLearnerState):
        """[] int: the member with the best fitness over the last full
        interval (or the current one before the first exploit), the one PBT
        hands back."""
        running = jnp.where(state.episodes > 0, state.fitness, -jnp.inf)
        return jnp.argmax(jnp.where(jnp.isfinite(state.last), state.last, running))

    def act(self, key, state: PBTLearnerState, obs, deterministic: bool = False):
        """The actions of `chosen_member`."""
        return self.learner.act(key, self._chosen(state), obs, deterministic)

    def act_init(self, state: PBTLearnerState, obs):
        """`chosen_member`'s policy carry (learners/common/evaluate.py)."""
        return act_init(self.learner, self._chosen(state), obs)

    def act_step(self, key, state: PBTLearnerState, carry, obs, deterministic=False):
        """`chosen_member`'s policy step: `(actions, carry)`."""
        member = self._chosen(state)
        return act_step(self.learner, key, member, carry, obs, deterministic)

    def _chosen(self, state: PBTLearnerState):
        best = self.chosen_member(state)
        return jax.tree_util.tree_map(lambda x: x[best], state.members)
