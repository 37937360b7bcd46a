import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.models.bayes_opt import BayesMetaParams, UnitCubeBayesOpt


@pytest.mark.parametrize(
    "field, value",
    [("dim", 0), ("batch_size", 0), ("acquisition", "pi"), ("num_refine", 1000)],
)
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        UnitCubeBayesOpt(**{"dim": 2, "batch_size": 2, field: value})


def test_store_drops_non_finite_scores_and_keeps_the_best_first():
    optimiser = UnitCubeBayesOpt(dim=1, batch_size=3, max_observations=4)
    observed = optimiser.empty()
    observed = optimiser.store(
        observed, jnp.array([[0.1], [0.2], [1.7]]), jnp.array([1.0, jnp.nan, 3.0])
    )
    observed = optimiser.store(
        observed, jnp.array([[0.4], [0.5], [0.6]]), jnp.array([2.0, -jnp.inf, 0.5])
    )
    # Four slots, four finite scores: best first, the clipped point kept in [0, 1].
    np.testing.assert_array_equal(observed.scores, [3.0, 2.0, 1.0, 0.5])
    np.testing.assert_allclose(observed.unit_x[:, 0], [1.0, 0.4, 0.1, 0.6], rtol=1e-6)
    assert bool(jnp.all(observed.mask))


def test_proposals_stay_in_the_cube_and_find_a_quadratic_peak():
    optimiser = UnitCubeBayesOpt(dim=2, batch_size=4, max_observations=32)
    meta_params = jax.tree.map(jnp.asarray, BayesMetaParams())

    def round_(observed, key):
        unit, hyperparams = optimiser.propose(key, observed, meta_params)
        scores = -jnp.sum((unit - jnp.array([0.7, 0.2])) ** 2, axis=1)
        observed = observed.replace(hyperparams=hyperparams)
        return optimiser.store(observed, unit, scores), unit

    observed, proposals = jax.jit(
        lambda key: jax.lax.scan(round_, optimiser.empty(), jax.random.split(key, 8))
    )(jax.random.key(0))
    assert bool(jnp.all((proposals >= 0) & (proposals <= 1)))
    # 8 rounds of 4 on a 2-d bowl: random search's expected best distance at
    # 32 points is about 0.1; the GP gets much closer.
    assert float(jnp.linalg.norm(observed.unit_x[0] - jnp.array([0.7, 0.2]))) < 0.03
