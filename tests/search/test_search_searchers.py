import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from jaxmeta.search import (
    EvosaxSearch,
    GridSearch,
    Logit,
    LogUniform,
    RandomSearch,
    SearchSpace,
    Uniform,
    make,
    registered_names,
)


@struct.dataclass
class ToyHParams:
    learning_rate: float = 3e-4
    gamma: float = 0.99
    clip_eps: float = 0.2
    ent_coef: float = 0.01


SPACE = SearchSpace(
    ToyHParams(),
    learning_rate=LogUniform(1e-5, 1e-2),
    gamma=Logit(0.9, 0.999),
    clip_eps=Uniform(0.1, 0.3),
)
OPTIMUM = ToyHParams(learning_rate=1e-3, gamma=0.98, clip_eps=0.15)
POPULATION = 8
GENERATIONS = 8


@jax.jit
def toy_score(hparams):
    """A concave quadratic in the unconstrained coordinates (box scaled to
    [-1, 1]), maximal (0) at OPTIMUM, which lies inside the box."""
    low, high = SPACE.bounds
    half_width = (high - low) / 2
    delta = (SPACE.from_hparams(hparams) - SPACE.from_hparams(OPTIMUM)) / half_width
    return -jnp.sum(delta**2, axis=-1)


def counted_jit(fn, counter, name):
    def traced(*args):
        counter[name] += 1
        return fn(*args)

    return jax.jit(traced)


def run_toy(searcher, seed=0, nan_member=None):
    """A Python ask/tell loop through jitted wrappers that count their traces."""
    traces = {"init": 0, "ask": 0, "tell": 0}
    init = counted_jit(searcher.init, traces, "init")
    ask = counted_jit(searcher.ask, traces, "ask")
    tell = counted_jit(searcher.tell, traces, "tell")
    meta_params = searcher.default_meta_params()
    key = jax.random.key(seed)
    state = init(key, meta_params)
    history = []
    for generation in range(GENERATIONS):
        key_ask, key_tell = jax.random.split(jax.random.fold_in(key, generation))
        hparams, state = ask(key_ask, state, meta_params)
        scores = toy_score(hparams)
        if nan_member is not None:
            scores = scores.at[nan_member].set(jnp.nan)
        grid_mask = getattr(state, "asked_is_grid", None)
        if grid_mask is not None:
            # Grid padding gets a huge score that must not become the best.
            scores = jnp.where(grid_mask, scores, 1e9)
        state, metrics = tell(key_tell, hparams, scores, state, meta_params)
        history.append(
            {
                "z": np.asarray(SPACE.from_hparams(hparams)),
                "scores": np.asarray(scores),
                "state": state,
                "metrics": jax.device_get(metrics),
                "grid_mask": None if grid_mask is None else np.asarray(grid_mask),
            }
        )
    return traces, history


# 12 grid points in asks of 8: the second ask has 4 padded members, the rest of
# the run is all padding.
GRID_POINTS = (3, 2, 2)
SEARCHER_OPTIONS = {
    "grid": {"points_per_dim": GRID_POINTS},
    "evosax": {"strategy": "CMA_ES"},
    # Small GP and acquisition budgets: this battery checks the contract, not
    # optimisation quality (tests/search/test_search_bayes.py does that).
    "bayes": {
        "max_observations": 64,
        "num_candidates": 64,
        "refine_steps": 5,
        "fit_steps": 30,
    },
}
_RUNS = {}


def toy_run(name):
    """One NaN-injected toy run per registered searcher, shared by the tests."""
    if name not in _RUNS:
        searcher = make(name, SPACE, POPULATION, **SEARCHER_OPTIONS.get(name, {}))
        _RUNS[name] = run_toy(searcher, nan_member=0)
    return _RUNS[name]


@pytest.mark.parametrize("name", registered_names())
def test_searcher_compiles_once_across_generations(name):
    traces, _ = toy_run(name)
    assert traces == {"init": 1, "ask": 1, "tell": 1}


@pytest.mark.parametrize("name", registered_names())
def test_searcher_keeps_the_best_finite_score_and_nan_never_poisons(name):
    _, history = toy_run(name)
    best_so_far = -np.inf
    for generation in history:
        state, scores = generation["state"], generation["scores"]
        counted = generation["grid_mask"]
        counted = np.ones_like(scores, bool) if counted is None else counted
        finite = np.isfinite(scores) & np.asarray(counted)
        if finite.any():
            best_so_far = max(best_so_far, scores[finite].max())
        assert float(state.best_score) == pytest.approx(best_so_far, rel=1e-6)
        assert int(generation["metrics"]["meta/num_invalid"]) == int(
            (~np.isfinite(scores) & counted).sum()
        )
        for leaf in jax.tree.leaves(state):
            if jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.floating):
                assert not np.any(np.isnan(leaf))
    final = history[-1]["state"]
    assert final.generation == GENERATIONS
    # best_z is a point that was evaluated with exactly that score.
    best_hparams = SPACE.to_hparams(final.best_z)
    np.testing.assert_allclose(
        toy_score(best_hparams), float(final.best_score), atol=1e-4
    )


def test_random_search_beats_its_first_ask_over_seeds():
    searcher = RandomSearch(SPACE, 4)
    meta_params = searcher.default_meta_params()

    def search(key):
        def generation(state, key):
            key_ask, key_tell = jax.random.split(key)
            hparams, state = searcher.ask(key_ask, state, meta_params)
            scores = toy_score(hparams)
            state, _ = searcher.tell(key_tell, hparams, scores, state, meta_params)
            return state, scores.max()

        key_init, key_loop = jax.random.split(key)
        state = searcher.init(key_init, meta_params)
        state, best_per_ask = jax.lax.scan(
            generation, state, jax.random.split(key_loop, 25)
        )
        return best_per_ask[0], state.best_score

    first_ask, final = jax.jit(jax.vmap(search))(
        jax.random.split(jax.random.key(7), 16)
    )
    # Per seed, the first ask holds the best of 100 draws with chance 4%.
    assert np.sum(final > first_ask) >= 13
    assert np.all(final >= first_ask)
    assert np.mean(final) > np.mean(first_ask)


def test_grid_search_covers_its_grid_and_ignores_padding():
    _, history = toy_run("grid")
    masks = [generation["grid_mask"] for generation in history]
    assert [int(m.sum()) for m in masks] == [8, 4] + [0] * (GENERATIONS - 2)
    asked = [
        tuple(z)
        for generation, mask in zip(history, masks, strict=True)
        for z in np.round(generation["z"][mask], 4)
    ]
    low, high = (np.asarray(b) for b in SPACE.bounds)
    axes = [
        np.linspace(lo, hi, n) for lo, hi, n in zip(low, high, GRID_POINTS, strict=True)
    ]
    expected = {tuple(np.round(p, 4)) for p in itertools.product(*axes)}
    assert len(asked) == 12 and set(asked) == expected
    # Member 0 of every ask scored NaN; the best is the best of the others.
    evaluated = np.concatenate(
        [history[0]["scores"][1:], history[1]["scores"][masks[1]]]
    )
    final = history[-1]
    assert float(final["state"].best_score) == pytest.approx(
        np.nanmax(evaluated), abs=1e-6
    )
    assert float(final["metrics"]["meta/generation_best_score"]) == -np.inf


def test_evosax_cma_es_improves_on_the_toy_objective():
    _, history = toy_run("evosax")
    first, last = history[0]["scores"][1:], history[-1]["scores"][1:]
    assert np.mean(last) > np.mean(first)
    assert float(history[-1]["state"].best_score) > first.max()


@pytest.mark.parametrize(
    "build, field",
    [
        (lambda: RandomSearch(SPACE, 0), "population_size"),
        (lambda: GridSearch(SPACE, -3), "population_size"),
        (lambda: EvosaxSearch(SPACE, 0), "population_size"),
        (lambda: GridSearch(SPACE, 4, points_per_dim=0), "points_per_dim"),
        (lambda: GridSearch(SPACE, 4, points_per_dim=(2, 2)), "points_per_dim"),
        (lambda: EvosaxSearch(SPACE, 8, strategy="CMA"), "strategy"),
        (lambda: EvosaxSearch(SPACE, 7, strategy="Open_ES"), "population_size"),
        (lambda: RandomSearch(ToyHParams(), 4), "space"),
        (lambda: make("annealing", SPACE, 4), "annealing"),
    ],
)
def test_bad_searcher_config_raises_naming_the_field(build, field):
    with pytest.raises(ValueError, match=field):
        build()


def test_tell_rejects_scores_of_the_wrong_shape_while_tracing():
    searcher = RandomSearch(SPACE, 4)
    key = jax.random.key(0)
    state = jax.eval_shape(searcher.init, key, None)
    hparams, state = jax.eval_shape(searcher.ask, key, state, None)
    scores = jax.ShapeDtypeStruct((5,), jnp.float32)
    with pytest.raises(ValueError, match="scores"):
        jax.eval_shape(searcher.tell, key, hparams, scores, state, None)


@pytest.mark.parametrize(
    "strategy", ["Sep_CMA_ES", "SNES", "Open_ES", "PSO", "DifferentialEvolution"]
)
def test_evosax_strategies_trace_with_a_stable_state_type(strategy):
    """Tracing only (no compile): distribution- and population-based strategies
    go through init/ask/tell, and the state's abstract type after a tell equals
    the initial one, so a jitted loop traces once."""
    searcher = EvosaxSearch(SPACE, POPULATION, strategy=strategy)
    key = jax.random.key(0)
    meta_params = jax.eval_shape(searcher.default_meta_params)
    state0 = jax.eval_shape(searcher.init, key, meta_params)
    hparams, state1 = jax.eval_shape(searcher.ask, key, state0, meta_params)
    scores = jax.ShapeDtypeStruct((POPULATION,), jnp.float32)
    state2, metrics = jax.eval_shape(
        searcher.tell, key, hparams, scores, state1, meta_params
    )
    assert jax.tree.structure(state2) == jax.tree.structure(state0)
    assert jax.tree.leaves(state2) == jax.tree.leaves(state0)
    assert hparams.learning_rate.shape == (POPULATION,)
    assert all(name.startswith("meta/") for name in metrics)
