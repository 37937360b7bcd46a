"""Fitted-Q Iteration (Ernst, Geurts, Wehenkel 2005) over a discrete action grid.

From a batch of transitions (s, a, r, s', done), iteration k regresses Q_k(s, a)
on inputs concat(s, a) with targets
    r + gamma (1 - done) max_{a' in grid} Q_{k-1}(s', a'),
starting from Q_0 = 0; the horizon H counts the iterations, which run in a
`lax.scan` with a fresh key per refit. Any regressor
with the fit/predict contract of `jaxmeta.models.regressor` works.

Defaults follow the trust-region meta-learning seed (002): horizon H = 3 and a
minimum split psi = 1e-3 of the data (its Minigolf model; its Cartpole model used
H = 1, psi = 5e-5), meta-discount 1. The seed does not give M or K: M = 50 trees
and K = all inputs are the settings of Ernst et al. 2005 and Geurts et al. 2006.
"""

import dataclasses
from typing import NamedTuple

import flax.struct
import jax
import jax.numpy as jnp

from jaxmeta.models.extra_trees import ExtraTrees
from jaxmeta.models.regressor import Regressor
from jaxmeta.types import Array, Key, PyTree


class Transitions(NamedTuple):
    obs: Array  # [n, obs_dim]
    action: Array  # [n, action_dim] (or [n]): rows of the action grid
    reward: Array  # [n]
    next_obs: Array  # [n, obs_dim]
    done: Array  # [n] bool or {0, 1}: no bootstrap after a terminal transition


@flax.struct.dataclass
class FittedQ:
    """A fitted Q-function: regressor params, the action grid and the regressor."""

    params: PyTree
    action_grid: Array  # [num_actions, action_dim]
    regressor: Regressor = flax.struct.field(pytree_node=False)


@dataclasses.dataclass(frozen=True)
class FittedQIteration:
    """Static config: horizon H (number of regressions) and the regressor."""

    horizon: int = 3
    regressor: Regressor = ExtraTrees(num_trees=50, min_samples_split=1e-3)

    def __post_init__(self):
        if (
            isinstance(self.horizon, bool)
            or not isinstance(self.horizon, int)
            or self.horizon < 1
        ):
            raise ValueError(f"horizon={self.horizon!r}: must be an int >= 1")
        if not (hasattr(self.regressor, "fit") and hasattr(self.regressor, "predict")):
            raise ValueError(
                f"regressor={self.regressor!r}: needs fit(key, x, y, weights) and "
                "predict(params, x)"
            )

    def fit(
        self,
        key: Key,
        transitions: Transitions,
        action_grid: Array,
        discount: float | Array = 1.0,
        weights: Array | None = None,
    ) -> FittedQ:
        """Run H iterations of FQI.

        transitions: fields of leading size n; action_grid: [num_actions,
        action_dim] (or [num_actions]); discount: scalar, traced; weights: [n] >= 0,
        0 = padding. Returns the FittedQ of iteration H.
        """
        action_grid = _as_matrix(jnp.asarray(action_grid, jnp.float32))
        obs = jnp.asarray(transitions.obs, jnp.float32)
        actions = _as_matrix(jnp.asarray(transitions.action, jnp.float32))
        if actions.shape[1] != action_grid.shape[1]:
            raise ValueError(
                f"action dimension {actions.shape[1]} differs from the action grid's "
                f"{action_grid.shape[1]}"
            )
        inputs = jnp.concatenate([obs, actions], axis=1)
        reward = jnp.asarray(transitions.reward, jnp.float32)
        bootstrap = discount * (1.0 - jnp.asarray(transitions.done, jnp.float32))
        key_first, key_rest = jax.random.split(key)
        params = self.regressor.fit(key_first, inputs, reward, weights)

        def iterate(params, key_fit):
            q = FittedQ(params, action_grid, self.regressor)
            next_value = jnp.max(q_values(q, transitions.next_obs), axis=1)
            target = reward + bootstrap * next_value
            return self.regressor.fit(key_fit, inputs, target, weights), None

        keys = jax.random.split(key_rest, self.horizon - 1)
        params, _ = jax.lax.scan(iterate, params, keys)
        return FittedQ(params, action_grid, self.regressor)


def q_values(q: FittedQ, obs: Array) -> Array:
    """Q at every grid action. obs: [m, obs_dim] -> [m, num_actions]."""
    obs = jnp.asarray(obs, jnp.float32)
    num_obs, num_actions = obs.shape[0], q.action_grid.shape[0]
    inputs = jnp.concatenate(
        [
            jnp.repeat(obs, num_actions, axis=0),
            jnp.tile(q.action_grid, (num_obs, 1)),
        ],
        axis=1,
    )
    return q.regressor.predict(q.params, inputs).reshape(num_obs, num_actions)


def greedy_action(q: FittedQ, obs: Array) -> Array:
    """argmax_a Q(s, a) over the grid. obs: [m, obs_dim] -> [m, action_dim];
    a single obs [obs_dim] -> [action_dim]."""
    if obs.ndim == 1:
        return greedy_action(q, obs[None])[0]
    return q.action_grid[jnp.argmax(q_values(q, obs), axis=1)]


def _as_matrix(values: Array) -> Array:
    return values[:, None] if values.ndim == 1 else values
