"""The parts of the MAML family: TRPO's outer step stays inside its KL
bound; the surrogates share the REINFORCE gradient; the linear baseline
fits; the medium task and the task pool; bad configs fail, naming the
field, before anything compiles."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from jaxmeta.adapt import make_adapter
from jaxmeta.adapt.common.episodes import Episodes
from jaxmeta.adapt.common.surrogate import (
    dice_objective,
    importance_surrogate,
    score_surrogate,
)
from jaxmeta.adapt.common.tasks import medium_task, sample_meta_batch
from jaxmeta.adapt.maml import MAML
from jaxmeta.envs import make
from jaxmeta.envs.tasks import CartPoleTasks
from jaxmeta.learners.common.linear_baseline import (
    baseline_features,
    fit_linear_baseline,
)

NAV = dict(hidden=(8,), horizon=5, num_episodes=3, meta_batch_size=3)


@pytest.mark.long
def test_trpo_outer_step_stays_in_its_trust_region():
    env, _ = make("Navigation2D-v0")
    adapter = make_adapter(
        "maml", env, outer_optimizer="trpo", cg_iters=3, line_search_steps=5, **NAV
    )
    hparams = adapter.default_hparams().replace(max_kl=jnp.float32(0.02))
    state = adapter.init(jax.random.key(0), hparams)
    new, metrics = jax.jit(adapter.meta_update)(jax.random.key(1), state, hparams)
    assert float(metrics["meta/step_fraction"]) > 0
    assert 0 < float(metrics["meta/kl"]) <= 0.02 * 1.001
    assert float(metrics["meta/improvement"]) > 0
    assert not np.allclose(ravel_pytree(new.params)[0], ravel_pytree(state.params)[0])


def test_dice_and_importance_surrogates_share_the_reinforce_gradient():
    keys = jax.random.split(jax.random.key(4), 4)
    theta = jax.random.normal(keys[0], (3,))
    obs = jax.random.normal(keys[1], (4, 2, 3))
    reward = jax.random.normal(keys[2], (4, 2))
    valid = jnp.array([[1, 1], [1, 1], [1, 0], [0, 0]], jnp.float32)
    baseline = jax.random.normal(keys[3], (4, 2))

    @jax.jit
    def gradients(theta):
        log_prob_of = lambda th: jnp.tanh(obs @ th) * valid  # noqa: E731
        episodes = Episodes(obs, obs, reward, valid, log_prob_of(theta))
        surrogates = (dice_objective, score_surrogate, importance_surrogate)
        grads = [
            jax.grad(lambda th, f=f: f(log_prob_of(th), episodes, baseline, 0.9))(theta)
            for f in surrogates
        ]
        discount = 0.9 ** jnp.arange(4.0)[:, None]
        lag = jnp.arange(4)[None, :] - jnp.arange(4)[:, None]
        to_go = jnp.where(lag >= 0, 0.9 ** jnp.maximum(lag, 0), 0.0) @ (reward * valid)
        score = jax.jacobian(log_prob_of)(theta)  # [4, 2, 3]
        weights = valid * discount * (to_go - baseline) / 8
        return grads, jnp.einsum("tn,tnk->k", weights, score)

    grads, reinforce = gradients(theta)
    for grad in grads:
        np.testing.assert_allclose(grad, reinforce, rtol=1e-5, atol=1e-6)


def test_linear_baseline_recovers_a_linear_target_and_ignores_padding():
    obs = jax.random.normal(jax.random.key(5), (6, 4, 2))
    features = baseline_features(obs)
    coeffs = jnp.arange(1.0, 9.0) / 4
    target = features @ coeffs
    weight = jnp.ones((6, 4)).at[4:].set(0.0)
    noisy = target.at[4:].add(100.0)  # padding rows must not matter
    fitted = jax.jit(fit_linear_baseline)(features, noisy, weight, 1e-8)
    # The time features are nearly collinear over 6 steps: check predictions.
    np.testing.assert_allclose(
        (features @ fitted)[:4], target[:4], rtol=1e-3, atol=1e-3
    )


def test_medium_task_is_the_midpoint_of_every_range():
    env, _ = make("Navigation2D-v0")
    adapter = make_adapter("directed-maml", env, **NAV)
    np.testing.assert_allclose(medium_task(adapter.tasks).goal, [0.0, 0.0])
    cartpole = medium_task(CartPoleTasks())
    assert float(cartpole.length) == pytest.approx(0.625)
    assert float(cartpole.polemass_length) == pytest.approx(0.275 * 0.625)


def test_task_pool_is_drawn_without_replacement():
    tasks = make_adapter("maml", make("Navigation2D-v0")[0], **NAV).tasks
    batch = sample_meta_batch(jax.random.key(0), tasks, 5, 5, 3)
    assert len({tuple(np.round(g, 6)) for g in np.asarray(batch.goal)}) == 5


@pytest.mark.parametrize(
    "config, field",
    [
        ({"inner_steps": 0}, "inner_steps"),
        ({"meta_batch_size": 8, "task_pool": 4}, "meta_batch_size"),
        ({"outer_optimizer": "sgd"}, "outer_optimizer"),
        ({"baseline": "critic"}, "baseline"),
        ({"hidden": (8, 0)}, "hidden"),
        ({"task_pool": 0}, "task_pool"),
    ],
)
def test_bad_config_names_the_field_before_compiling(config, field):
    env, _ = make("Navigation2D-v0")
    with pytest.raises(ValueError, match=field):
        make_adapter("maml", env, **{**NAV, **config})


def test_env_without_task_distribution_is_rejected():
    env, _ = make("Acrobot-v1")
    with pytest.raises(ValueError, match="tasks.*allowed values"):
        MAML(env)
    with pytest.raises(ValueError, match="tasks draws"):
        MAML(make("Navigation2D-v0")[0], tasks=CartPoleTasks())
    with pytest.raises(ValueError, match="unknown adapter"):
        make_adapter("mamal", env)
