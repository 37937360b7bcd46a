"""The battery every registered adapter passes: smoke (the contract's state
and metrics), member i of a vmapped population equals the unbatched run with
`hparams[i]` (run in chunks of one meta-iteration, so chunked equals
one-shot too), a population with other numbers compiles once, and (slow)
adaptation helps after meta-training on a tiny Navigation2D. The population
program is compiled once per adapter (module fixture) and reused: the
learning test continues the same population chunk by chunk."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.adapt import make_adapter, meta_train_from, registered_names
from jaxmeta.envs import make

TINY = dict(hidden=(16,), horizon=10, num_episodes=8, meta_batch_size=6)
CHUNK = 2  # meta-iterations per call of the population program
LEARN_CHUNKS = 30
SIZE = 2
TRACES = []
MAML_FAMILY = ("maml", "fomaml", "directed-maml", "directed-fomaml")
BATTERY = [name for name in registered_names() if name in MAML_FAMILY]


def _counted_population(adapter, key, states, hparams, num_iterations):
    TRACES.append(type(adapter).__name__)
    return jax.vmap(meta_train_from, in_axes=(None, 0, 0, 0, None))(
        adapter, key, states, hparams, num_iterations
    )


population_chunk = jax.jit(_counted_population, static_argnums=(0, 4))
chunk_train = jax.jit(meta_train_from, static_argnums=(0, 4))


def _population(adapter, scale=1.0):
    """Member 0 learns (inner lr 0.5, Adam 0.03); member 1 is another point."""
    base = adapter.default_hparams()
    hparams = jax.tree_util.tree_map(lambda x: jnp.full((SIZE,), x), base)
    return hparams.replace(
        inner_lr=scale * jnp.asarray([0.5, 0.2], jnp.float32),
        outer_lr=scale * jnp.asarray([0.03, 0.01], jnp.float32),
    )


def _member(tree, i):
    return jax.tree_util.tree_map(lambda x: x[i], tree)


def _keys(seed):
    """(init keys [SIZE], meta-iteration keys [SIZE]), as `meta_train` splits."""
    keys = jax.random.split(jax.random.key(seed), SIZE)
    pairs = jax.vmap(jax.random.split)(keys)
    return pairs[:, 0], pairs[:, 1]


@pytest.fixture(scope="module", params=BATTERY)
def runs(request):
    env, _ = make("Navigation2D-v0")
    adapter = make_adapter(request.param, env, **TINY)
    hparams = _population(adapter)
    key_init, key_iterations = _keys(0)
    initial = jax.jit(jax.vmap(adapter.init))(key_init, hparams)
    batched = population_chunk(adapter, key_iterations, initial, hparams, CHUNK)
    singles = []
    for i in range(SIZE):
        state, chunks = _member(initial, i), []
        for _ in range(CHUNK):
            state, metrics = chunk_train(
                adapter, key_iterations[i], state, _member(hparams, i), 1
            )
            chunks.append(metrics)
        singles.append(
            (state, jax.tree_util.tree_map(lambda *m: jnp.concatenate(m), *chunks))
        )
    same_key = jnp.stack([key_iterations[0]] * SIZE)
    same_start = jax.tree_util.tree_map(lambda x: jnp.stack([x[0]] * SIZE), initial)
    shared = population_chunk(
        adapter, same_key, same_start, _population(adapter, 2.0), CHUNK
    )
    return adapter, hparams, key_iterations, initial, batched, singles, shared


def test_every_maml_adapter_is_in_the_battery():
    assert set(MAML_FAMILY) <= set(registered_names())
    assert set(BATTERY) == set(MAML_FAMILY)


def test_smoke_contract(runs):
    adapter, _, _, _, _, singles, _ = runs
    state, metrics = singles[0]
    for leaf in jax.tree_util.tree_leaves(state):
        assert isinstance(leaf, jax.Array)
        assert not jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key)
    assert int(state.update_count) == CHUNK
    assert not bool(state.diverged)
    for name in ("episode_return", "meta/pre_return", "meta/post_return"):
        assert metrics[name].shape == (CHUNK,)
        assert np.all(np.isfinite(metrics[name])), name
    np.testing.assert_array_equal(
        metrics["env_steps"], adapter.steps_per_iteration * np.arange(1, CHUNK + 1)
    )
    directed = type(adapter).__name__.startswith("Directed")
    assert ("meta/directed_return" in metrics) == directed
    assert np.all(np.asarray(metrics["meta/grad_norm"]) > 0)


def test_vmapped_member_equals_unbatched_run(runs):
    _, _, _, _, (states, metrics), singles, _ = runs
    for i, (state_i, metrics_i) in enumerate(singles):
        for name in metrics_i:
            np.testing.assert_allclose(
                metrics[name][i], metrics_i[name], rtol=2e-5, atol=2e-5, err_msg=name
            )
        for a, b in zip(
            jax.tree_util.tree_leaves(state_i), jax.tree_util.tree_leaves(states),
            strict=True,
        ):  # fmt: skip
            np.testing.assert_allclose(b[i], a, rtol=2e-5, atol=2e-6)


def test_members_differ_when_only_hparams_differ(runs):
    _, _, _, _, _, _, (states, metrics) = runs
    # Same key and start: the first meta-iteration samples the same tasks and
    # first episodes (Directed-MAML: its directed step's, before the rates
    # matter); the inner rates differ, so the adapted policies do not.
    first = "meta/directed_return" if "meta/directed_return" in metrics else None
    first = first or "meta/pre_return"
    np.testing.assert_array_equal(metrics[first][0, 0], metrics[first][1, 0])
    assert metrics["meta/post_return"][0, 0] != metrics["meta/post_return"][1, 0]
    for leaf in jax.tree_util.tree_leaves(states.params):
        assert not np.allclose(leaf[0], leaf[1])


def test_population_with_different_hparams_compiles_once(runs):
    assert TRACES.count(type(runs[0]).__name__) == 1


@pytest.mark.slow
def test_adaptation_helps_after_meta_training(runs):
    adapter, hparams, key_iterations, initial, (states, _), _, _ = runs
    for _ in range(LEARN_CHUNKS - 1):  # the same program: 60 meta-iterations
        states, _ = population_chunk(adapter, key_iterations, states, hparams, CHUNK)
    assert TRACES.count(type(adapter).__name__) == 1
    tasks = jax.vmap(adapter.tasks.sample)(jax.random.split(jax.random.key(7), 32))
    evaluate = jax.jit(
        jax.vmap(adapter.adapt, in_axes=(0, None, None, 0, None)), static_argnums=4
    )
    keys = jax.random.split(jax.random.key(8), 32)
    learner = _member(hparams, 0)
    untrained = np.asarray(evaluate(keys, _member(initial, 0), learner, tasks, 1))
    trained = np.asarray(evaluate(keys, _member(states, 0), learner, tasks, 1))
    (_, untrained_after), (before, after) = untrained.mean(0), trained.mean(0)
    # Held-out tasks, 8 episodes of 10 steps: one inner step from the
    # meta-learned params gains more than from the initial ones (about 0.45),
    # and the post-adaptation return is well above the untrained one.
    assert after - before > 0.8, (before, after, untrained.mean(0))
    assert after > untrained_after + 0.7, (after, untrained.mean(0))
