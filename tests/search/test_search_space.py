import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from jaxmeta.search.space import (
    Categorical,
    Logit,
    LogUniform,
    SearchSpace,
    Uniform,
)


@struct.dataclass
class ToyHParams:
    learning_rate: float = 3e-4
    gamma: float = 0.99
    clip_eps: float = 0.2
    ent_coef: float = 0.01


DIMS = {
    "learning_rate": LogUniform(1e-5, 1e-2),
    "gamma": Logit(0.9, 0.999),
    "clip_eps": Uniform(0.1, 0.3),
}


@pytest.fixture(scope="module")
def space():
    return SearchSpace(ToyHParams(), **DIMS, hidden_size=Categorical((32, 64, 128)))


def test_names_dim_and_bounds_in_unconstrained_coordinates(space):
    assert space.names == ("learning_rate", "gamma", "clip_eps")
    assert space.dim == 3
    low, high = space.bounds
    np.testing.assert_allclose(low, [np.log(1e-5), np.log(0.9 / 0.1), 0.1], rtol=1e-5)
    np.testing.assert_allclose(
        high, [np.log(1e-2), np.log(0.999 / 0.001), 0.3], rtol=1e-5
    )


def test_round_trip_each_dim_type(space):
    z = space.sample(jax.random.key(0), 64)
    hparams = space.to_hparams(z)
    np.testing.assert_allclose(space.from_hparams(hparams), z, atol=2e-4, rtol=1e-5)
    for name, dim in DIMS.items():
        natural = np.asarray(getattr(hparams, name))
        assert natural.shape == (64,)
        assert np.all(natural >= dim.low * (1 - 1e-6))
        assert np.all(natural <= dim.high * (1 + 1e-6))
    # And natural -> z -> natural, from values spread over each range.
    spread = ToyHParams(
        **{name: np.linspace(d.low, d.high, 64) for name, d in DIMS.items()},
        ent_coef=np.full(64, 0.01),
    )
    back = space.to_hparams(space.from_hparams(spread))
    for name in DIMS:
        np.testing.assert_allclose(
            getattr(back, name), getattr(spread, name), rtol=1e-4
        )


def test_to_hparams_batches_clips_and_broadcasts_unsearched(space):
    low, high = space.bounds
    z = jnp.stack([low - 5.0, high + 5.0, (low + high) / 2])
    hparams = space.to_hparams(z)
    assert type(hparams) is ToyHParams
    np.testing.assert_allclose(hparams.learning_rate[:2], [1e-5, 1e-2], rtol=1e-5)
    np.testing.assert_allclose(hparams.gamma[:2], [0.9, 0.999], rtol=1e-5)
    np.testing.assert_allclose(hparams.clip_eps[:2], [0.1, 0.3], rtol=1e-5)
    np.testing.assert_allclose(hparams.ent_coef, [0.01] * 3, rtol=1e-6)
    assert hparams.ent_coef.dtype == jnp.float32 and not hparams.ent_coef.weak_type
    single = space.to_hparams(z[2])
    assert jax.tree.map(jnp.shape, single) == ToyHParams((), (), (), ())


def test_to_hparams_jits_vmaps_and_differentiates(space):
    z = space.sample(jax.random.key(1), 5)
    jitted = jax.jit(space.to_hparams)(z)
    vmapped = jax.vmap(space.to_hparams)(z)
    eager = space.to_hparams(z)
    for a, b in zip(jax.tree.leaves(jitted), jax.tree.leaves(eager), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    for a, b in zip(jax.tree.leaves(vmapped), jax.tree.leaves(eager), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    grad = jax.grad(lambda z: space.to_hparams(z).learning_rate.sum())(z)
    # d exp(z) / dz = exp(z) inside the box; other dims do not affect it.
    np.testing.assert_allclose(grad[:, 0], eager.learning_rate, rtol=1e-5)
    np.testing.assert_allclose(grad[:, 1:], 0.0)


def test_sample_is_uniform_in_the_unconstrained_box(space):
    z = space.sample(jax.random.key(2), 64)
    low, high = space.bounds
    assert z.shape == (64, 3)
    assert np.all(z >= low) and np.all(z <= high)
    # Spread over the whole box, not a corner of it.
    width = high - low
    assert np.all(z.min(axis=0) < low + 0.2 * width)
    assert np.all(z.max(axis=0) > high - 0.2 * width)
    # Uniform in log space: the box centre is the geometric midpoint.
    centre = space.to_hparams((low + high) / 2)
    np.testing.assert_allclose(centre.learning_rate, np.sqrt(1e-5 * 1e-2), rtol=1e-4)
    np.testing.assert_allclose(centre.clip_eps, 0.2, rtol=1e-5)


def test_categorical_sampling_and_grouping(space):
    assert space.categorical == {"hidden_size": (32, 64, 128)}
    indices = space.sample_static(jax.random.key(3), 40)
    assert indices.shape == (40, 1) and indices.dtype.kind == "i"
    assert set(np.unique(indices)) == {0, 1, 2}
    groups = space.group_by_static(indices)
    members = np.concatenate([m for _, m in groups])
    assert sorted(members.tolist()) == list(range(40))
    for values, group_members in groups:
        chosen = np.array(space.categorical["hidden_size"])[indices[group_members, 0]]
        assert np.all(chosen == values["hidden_size"])
    assert [v["hidden_size"] for v, _ in groups] == [32, 64, 128]


def test_no_categorical_gives_one_group():
    space = SearchSpace(ToyHParams(), **DIMS)
    indices = space.sample_static(jax.random.key(0), 6)
    assert indices.shape == (6, 0)
    [(values, members)] = space.group_by_static(indices)
    assert values == {} and members.tolist() == list(range(6))


def test_equal_spaces_hash_equal_so_jit_caches_are_shared():
    a = SearchSpace(ToyHParams(), **DIMS)
    b = SearchSpace(ToyHParams(), **DIMS)
    c = SearchSpace(ToyHParams(gamma=0.95), **DIMS)
    assert a == b and hash(a) == hash(b)
    assert a != c


@pytest.mark.parametrize(
    "make_dim, field",
    [
        (lambda: LogUniform(-1e-3, 1e-2), "low"),
        (lambda: LogUniform(0.0, 1e-2), "low"),
        (lambda: LogUniform(1e-2, 1e-3), "low"),
        (lambda: Uniform(0.5, 0.1), "low"),
        (lambda: Uniform(0.1, float("nan")), "high"),
        (lambda: Logit(0.0, 0.9), "low"),
        (lambda: Logit(0.9, 1.0), "high"),
        (lambda: Logit(0.99, 0.9), "low"),
        (lambda: Categorical(()), "choices"),
        (lambda: Categorical((32, 32)), "choices"),
    ],
)
def test_bad_dims_raise_naming_the_field(make_dim, field):
    with pytest.raises(ValueError, match=field):
        make_dim()


def test_unknown_hparam_raises_naming_it_and_the_allowed_fields():
    with pytest.raises(ValueError, match="learning_rat") as info:
        SearchSpace(ToyHParams(), learning_rat=LogUniform(1e-5, 1e-2))
    message = str(info.value)
    for field in dataclasses.fields(ToyHParams):
        assert field.name in message


def test_categorical_on_an_hparams_field_and_non_dims_are_rejected():
    with pytest.raises(ValueError, match="gamma"):
        SearchSpace(ToyHParams(), gamma=Categorical((0.9, 0.99)))
    with pytest.raises(ValueError, match="clip_eps"):
        SearchSpace(ToyHParams(), clip_eps=(0.1, 0.3))
    with pytest.raises(ValueError, match="base"):
        SearchSpace(ToyHParams, clip_eps=Uniform(0.1, 0.3))
