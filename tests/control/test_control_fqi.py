"""The trust-region meta-model's pieces: the random-KL controller, the FQI
controller (recovers a known best lambda per meta-state; acts from the
signals; bad input refused), the meta-dataset (tuples, npz round trip) and
masked metafeatures (equal to the estimators on the valid rows alone)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.control import Controlled, UniformRandom, meta_dataset
from jaxmeta.control.fqi import FQIController
from jaxmeta.control.metafeatures import (
    MetaFeatures,
    entropy,
    kl_divergence,
    metafeatures,
)
from jaxmeta.control.schedules import ScheduleState
from jaxmeta.learners.trpo import TRPOHParams
from jaxmeta.models.fqi import Transitions

GRID = (0.001, 0.01, 0.1)


def _synthetic_tuples(n=600, seed=0):
    """One-step meta-MDP: the best lambda is 0.1 where phi_0 > 0, else 0.001;
    reward = -(log10 lambda - log10 best)^2 + noise."""
    rng = np.random.default_rng(seed)
    phi = rng.normal(size=(n, 3)).astype(np.float32)
    lam = rng.choice(GRID, n).astype(np.float32)
    best = np.where(phi[:, 0] > 0, 0.1, 0.001)
    reward = -((np.log10(lam) - np.log10(best)) ** 2) + 0.1 * rng.normal(size=n)
    return Transitions(
        jnp.asarray(phi),
        jnp.asarray(lam),
        jnp.asarray(reward, jnp.float32),
        jnp.asarray(phi),
        jnp.ones(n),  # terminal: a one-step problem
    )


def test_fqi_controller_picks_the_best_lambda_of_each_meta_state():
    controller = FQIController(
        grid=GRID, inputs=("a", "b", "c"), horizon=2, min_split=0.02, num_trees=20
    )
    params = jax.jit(controller.fit)(jax.random.key(0), _synthetic_tuples())
    state = ScheduleState(TRPOHParams())
    chosen = []
    for first in (-1.5, -0.5, 0.5, 1.5):
        signals = {"a": first, "b": 0.3, "c": -0.2}
        hparams, _ = controller.act(None, state, params, signals)
        chosen.append(float(hparams.max_kl))
    np.testing.assert_allclose(chosen, [0.001, 0.001, 0.1, 0.1])
    # Untrained (Q = 0): every lambda ties, the first grid value.
    untrained = controller.default_params(TRPOHParams())
    hparams, _ = controller.act(None, state, untrained, {"a": 0, "b": 0, "c": 0})
    assert float(hparams.max_kl) == pytest.approx(0.001)


def test_fqi_bad_input_is_refused():
    with pytest.raises(ValueError, match="empty grid"):
        FQIController(grid=())
    with pytest.raises(ValueError, match="> 0"):
        FQIController(grid=(0.01, 0.0))
    with pytest.raises(ValueError, match="min_split"):
        FQIController(min_split=0.0)
    with pytest.raises(ValueError, match="horizon"):
        FQIController(horizon=0)
    controller = FQIController(grid=GRID, inputs=("a", "b", "c"))
    empty = jax.tree_util.tree_map(lambda x: x[:0], _synthetic_tuples())
    with pytest.raises(ValueError, match="no tuples"):
        controller.fit(jax.random.key(0), empty)
    wrong = FQIController(grid=GRID, inputs=("a", "b"))
    with pytest.raises(ValueError, match="3 features"):
        wrong.fit(jax.random.key(0), _synthetic_tuples())
    with pytest.raises(ValueError, match="not among the learner's signals"):
        controller.features({"a": 1.0})


def test_uniform_random_draws_inside_its_range_and_refuses_bad_bounds():
    controller = UniformRandom("max_kl", low=0.01, high=0.02)
    state = ScheduleState(TRPOHParams())
    params = controller.default_params(TRPOHParams())
    draws = [
        float(controller.act(jax.random.key(i), state, params, {})[0].max_kl)
        for i in range(20)
    ]
    assert min(draws) >= 0.01 and max(draws) <= 0.02 and len(set(draws)) == 20
    with pytest.raises(ValueError, match="low must be a positive"):
        UniformRandom("max_kl", low=0.0)
    with pytest.raises(ValueError, match="high must exceed low"):
        UniformRandom("max_kl", low=0.1, high=0.05)


def _runs(failed):
    rng = np.random.default_rng(0)
    r, t = len(failed), 3
    return meta_dataset.MetaRuns(
        features=rng.normal(size=(r, t, 22)).astype(np.float32),
        action=rng.uniform(size=(r, t)).astype(np.float32),
        returns=np.cumsum(rng.normal(size=(r, t + 1)), 1).astype(np.float32),
        next_features=rng.normal(size=(r, t, 22)).astype(np.float32),
        arch=np.zeros(r, np.int32),
        failed=np.asarray(failed),
    )


def test_meta_dataset_tuples_and_npz_round_trip(tmp_path):
    runs = _runs([False, True, False])
    tuples = meta_dataset.to_tuples(runs)
    assert tuples.obs.shape == (6, 22)
    np.testing.assert_allclose(tuples.reward[:3], np.diff(runs.returns[0]), rtol=1e-6)
    np.testing.assert_array_equal(tuples.next_obs[3:], runs.next_features[2])
    path = tmp_path / "data.npz"
    meta_dataset.save(path, runs)
    loaded = meta_dataset.load(path)
    for a, b in zip(loaded, runs, strict=True):
        np.testing.assert_array_equal(a, b)
    both = meta_dataset.concatenate([runs, runs])
    assert both.arch.tolist() == [0, 0, 0, 1, 1, 1]
    with pytest.raises(ValueError, match="no tuples"):
        meta_dataset.to_tuples(_runs([True, True]))


def test_masked_estimators_equal_the_valid_rows_alone():
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(40, 2)), jnp.float32)
    y = jnp.asarray(rng.normal(0.5, 1.0, size=(30, 2)), jnp.float32)
    valid_x = jnp.arange(40) < 25
    valid_y = jnp.arange(30) % 2 == 0
    np.testing.assert_allclose(
        entropy(jnp.where(valid_x[:, None], x, 1e3), 5, valid_x),
        entropy(x[:25], 5),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        kl_divergence(x, y, 5, valid_x, valid_y),
        kl_divergence(x[:25], y[::2], 5),
        rtol=1e-5,
    )
    # All 22 metafeatures stay finite with padding rows in the batch.
    batch = {"obs": x, "action": x[:, :1], "next_obs": x, "valid": valid_x}
    features = metafeatures(
        jax.random.key(0), batch, batch, jnp.ones(4), jnp.ones(4), points=32
    )
    assert features.shape == (22,) and bool(jnp.all(jnp.isfinite(features)))


def test_controlled_meta_trajectories_record_the_lambda_set_each_update():
    from jaxmeta.envs import make
    from jaxmeta.learners import EpisodicTRPO

    env, params = make("Elikoeidis-v0")
    learner = EpisodicTRPO(
        env, num_envs=8, num_steps=1, hidden=(), critic_hidden=(8,),
        features=MetaFeatures(points=8), cg_iters=3, line_search_steps=3, vf_iters=2,
    )  # fmt: skip
    controlled = Controlled(learner, UniformRandom("max_kl", low=0.01, high=0.1))
    runs = meta_dataset.meta_trajectories(
        controlled, jax.random.split(jax.random.key(0), 3),
        controlled.default_hparams(), params, 4,
    )  # fmt: skip
    assert runs.features.shape == (3, 4, 22) and runs.returns.shape == (3, 5)
    assert np.all((runs.action >= 0.01) & (runs.action <= 0.1))
    # phi_{t+1} recorded after update t is the phi_t read before update t + 1.
    np.testing.assert_array_equal(runs.next_features[:, :-1], runs.features[:, 1:])
    # The first meta-state is the learner's initial measurement, not zeros.
    assert np.all(runs.features[:, 0, :].std(-1) > 0)
