"""The trust-region meta-model of seeds/002: a Fitted-Q Iteration controller
that sets one hparam (TRPO's `max_kl`) every update.

Offline, `FQIController.fit` runs FQI with extra trees (`models/fqi.py`) on
meta-tuples (phi_t, lambda_t, J_{t+1} - J_t, phi_{t+1}) from
`control/meta_dataset.py`; the fitted forest is the controller's params (a
pytree: a population of controllers, or several fitted models, vmap). Online,
before every update, it reads the metafeatures phi_t from the signals (the
`inputs`, by default the 22 `meta/<name>` metrics of `EpisodicTRPO`) and sets

    field = argmax_{lambda in grid} Q(phi_t, lambda).

The default params are an untrained Q = 0 (every lambda ties, so the grid's
first value); fit before use.
"""

import dataclasses

import jax.numpy as jnp

from jaxmeta.control.metafeatures import META_NAMES
from jaxmeta.control.schedules import FieldController
from jaxmeta.models.extra_trees import ExtraTrees, ForestParams
from jaxmeta.models.fqi import FittedQ, FittedQIteration, Transitions, q_values


def check_grid(grid) -> tuple[float, ...]:
    """The meta-action grid: a non-empty sequence of positive numbers."""
    try:
        values = tuple(float(v) for v in grid)
    except TypeError as error:
        raise ValueError(f"grid must be a sequence of numbers, got {grid!r}") from error
    if not values:
        raise ValueError("grid must hold at least one value, got an empty grid")
    if any(not v > 0 or v != v for v in values):
        raise ValueError(f"grid values must be > 0 (a KL bound), got {values}")
    return values


@dataclasses.dataclass(frozen=True)
class FQIController(FieldController):
    """`field` = argmax over `grid` of a fitted meta-Q of the signals `inputs`.

    horizon: FQI iterations H; min_split: the extra trees' psi (a fraction of
    the tuples); num_trees: M; discount: the meta-discount (the seed: 1).
    """

    field: str = "max_kl"
    grid: tuple[float, ...] = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05)
    inputs: tuple[str, ...] = META_NAMES
    horizon: int = 3
    min_split: float = 1e-3
    num_trees: int = 50
    discount: float = 1.0

    kind = "FQI controller"

    def __post_init__(self):
        object.__setattr__(self, "grid", check_grid(self.grid))
        object.__setattr__(self, "inputs", tuple(str(n) for n in self.inputs))
        if not self.inputs:
            raise ValueError("inputs must name at least one signal")
        if not 0.0 < self.min_split <= 1.0:
            raise ValueError(f"min_split must lie in (0, 1], got {self.min_split!r}")
        self.fqi()  # checks horizon and num_trees

    def fqi(self) -> FittedQIteration:
        return FittedQIteration(
            horizon=self.horizon,
            regressor=ExtraTrees(
                num_trees=self.num_trees, min_samples_split=float(self.min_split)
            ),
        )

    def default_params(self, hparams) -> FittedQ:
        """An untrained Q = 0 (one leaf per tree)."""
        m = self.num_trees
        forest = ForestParams(
            feature=jnp.full((m, 1), -1, jnp.int32),
            threshold=jnp.zeros((m, 1), jnp.float32),
            left_child=jnp.zeros((m, 1), jnp.int32),
            value=jnp.zeros((m, 1), jnp.float32),
        )
        return FittedQ(forest, self._grid_matrix(), self._predictor())

    def _predictor(self) -> ExtraTrees:
        # Prediction does not depend on psi: fitted params of every psi (and
        # H) share one pytree structure, so candidates stack and vmap.
        return ExtraTrees(num_trees=self.num_trees)

    def _grid_matrix(self):
        return jnp.asarray(self.grid, jnp.float32)[:, None]

    def fit(self, key, tuples: Transitions, weights=None) -> FittedQ:
        """FQI on meta-tuples: obs = phi_t [n, len(inputs)], action =
        lambda_t [n], reward = J_{t+1} - J_t [n], next_obs = phi_{t+1},
        done [n]; weights [n] (0 = padding). Returns the controller params."""
        if tuples.obs.shape[0] == 0:
            raise ValueError("the meta-dataset holds no tuples: collect runs first")
        if tuples.obs.shape[1] != len(self.inputs):
            raise ValueError(
                f"the tuples have {tuples.obs.shape[1]} features, the controller "
                f"reads {len(self.inputs)} inputs"
            )
        q = self.fqi().fit(key, tuples, self._grid_matrix(), self.discount, weights)
        return FittedQ(q.params, q.action_grid, self._predictor())

    def features(self, signals) -> jnp.ndarray:
        """[len(inputs)] the meta-state read from the signals."""
        missing = [n for n in self.inputs if n not in signals]
        if missing:
            raise ValueError(
                f"FQI controller inputs {missing} are not among the learner's "
                f"signals (e.g. {sorted(signals)[:6]}); EpisodicTRPO reports meta/*"
            )
        return jnp.stack([jnp.asarray(signals[n], jnp.float32) for n in self.inputs])

    def choose(self, key, ctrl_params: FittedQ, signals):
        q = q_values(ctrl_params, self.features(signals)[None])[0]
        return ctrl_params.action_grid[jnp.argmax(q), 0]
