"""FeUdal networks: the intrinsic reward and the manager's transitions
against the paper's formulas written out directly, the dilated LSTM's
one-core-per-step update, bad configs refused before compiling, and (long)
FuN and the flat LSTM A2C learning a tiny KeyDoor."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.envs import make
from jaxmeta.learners import make_learner, train
from jaxmeta.learners.hierarchical.feudal import FeUdal
from jaxmeta.learners.hierarchical.feudal_net import (
    FeudalNet,
    cosine,
    intrinsic_reward,
    transitions,
    unit,
    zero_feudal_memory,
)


def _cos(a, b):
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return 0.0 if na * nb == 0 else float(a @ b / (na * nb))


def test_cosine_and_goal_normalisation_have_finite_gradients_at_zero():
    # A dead ReLU latent s = 0 fed to a fresh manager core gives g_hat = 0
    # exactly; jnp.linalg.norm's gradient there is NaN and was the whole
    # update's (a 5x7 KeyDoor, goal_dim 4, seed 1 failed at update 0).
    a = jnp.array([[0.3, -0.4], [0.0, 0.0]])
    for fn in (lambda x: cosine(a, unit(x)).sum(), lambda x: cosine(x, a).sum()):
        grad = jax.grad(fn)(jnp.zeros((2, 2)))
        assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(cosine(a, unit(jnp.array([[0.6, -0.8]] * 2))),
                               [1.0, 0.0], atol=1e-6)  # fmt: skip
    np.testing.assert_array_equal(unit(jnp.zeros((1, 3))), 0.0)


@pytest.mark.long
def test_a_dead_latent_does_not_fail_the_first_update():
    env, env_params = make("KeyDoor-v0", height=5, width=7)
    learner = make_learner("feudal", env, num_envs=4, num_steps=10, hidden=(16,),
                           worker_hidden=16, goal_dim=4, horizon=3,
                           radius=2)  # fmt: skip
    _, metrics = jax.jit(train, static_argnums=(0, 4))(
        learner, jax.random.key(1), learner.default_hparams(), env_params, 3
    )
    assert not np.any(metrics["train/failure"])


def test_intrinsic_reward_is_the_papers_mean_cosine():
    rng = np.random.default_rng(0)
    steps, envs, d, c = 6, 2, 3, 3
    s = rng.normal(size=(steps, envs, d)).astype(np.float32)
    g = rng.normal(size=(steps, envs, d)).astype(np.float32)
    nxt = rng.normal(size=(steps, envs, d)).astype(np.float32)
    past_s = rng.normal(size=(envs, c - 1, d)).astype(np.float32)
    past_g = rng.normal(size=(envs, c - 1, d)).astype(np.float32)
    valid = np.array([[1, 1], [1, 0]], np.float32)  # env 1: one step before
    resets = np.zeros((steps, envs), bool)
    resets[3, 0] = True  # env 0: a new episode starts at step 3
    memory = {"states": past_s, "goals": past_g, "valid": valid}
    got = np.asarray(intrinsic_reward(s, g, nxt, memory, resets, c))
    for n in range(envs):
        for t in range(steps):
            total = 0.0
            for i in range(c):
                j = t - i
                if j >= 0:
                    if n == 0 and t >= 3 > j:
                        continue  # the goal belongs to the previous episode
                    total += _cos(nxt[t, n] - s[j, n], g[j, n])
                elif valid[n, -j - 1] and not (n == 0 and t >= 3):
                    total += _cos(nxt[t, n] - past_s[n, -j - 1], past_g[n, -j - 1])
            np.testing.assert_allclose(got[t, n], total / c, rtol=1e-5, atol=1e-6)


def test_transitions_end_at_the_horizon_or_the_episode():
    steps, c = 5, 2
    s = np.arange(steps, dtype=np.float32)[:, None, None] * np.ones((1, 1, 2))
    nxt = s + 0.5
    done = np.zeros((steps, 1), bool)
    done[1, 0] = True
    direction, valid = transitions(s, nxt, done, c)
    # t=0: episode ends at step 1 -> s'_1 - s_0; t=1: ends at once -> s'_1 - s_1;
    # t=2, 3: s'_{t+1} - s_t; t=4: horizon past the segment -> invalid.
    expected = [1.5, 0.5, 1.5, 1.5]
    np.testing.assert_allclose(np.asarray(direction)[:4, 0, 0], expected)
    np.testing.assert_array_equal(np.asarray(valid)[:, 0], [1, 1, 1, 1, 0])


def test_dilated_lstm_moves_one_core_a_step():
    net = FeudalNet(num_actions=3, hidden=(4,), worker_hidden=4, goal_dim=3,
                    embed_dim=2, horizon=2, radius=3)  # fmt: skip
    memory = zero_feudal_memory(1, 3, 3, 4, 2)
    obs = jnp.ones((1, 5))
    params = net.init(jax.random.key(0), memory, obs)
    apply = jax.jit(net.apply)
    for t in range(4):
        before = memory["manager"][1]
        memory, out = apply(params, memory, obs)
        changed = np.any(np.asarray(memory["manager"][1] != before), axis=-1)[0]
        np.testing.assert_array_equal(changed, np.arange(3) == t % 3)
        np.testing.assert_allclose(np.linalg.norm(out["g"]), 1.0, rtol=1e-5)
        assert out["logits"].shape == (1, 3)


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"horizon": 0}, r"horizon \(c\) must be an integer >= 1"),
        ({"radius": 0}, r"radius \(r\) must be an integer >= 1"),
        ({"horizon": 20, "num_steps": 10}, "num_steps"),
        ({"goal_dim": 0}, "goal_dim"),
        ({"hidden": ()}, "hidden"),
    ],
)
def test_bad_config_is_refused(changes, match):
    env, _ = make("KeyDoor-v0")
    with pytest.raises(ValueError, match=match):
        FeUdal(env, **changes)


def test_continuous_actions_are_refused():
    env, _ = make("Pendulum-v1")
    for name in ("feudal", "lstm_a2c"):
        with pytest.raises(ValueError, match="Discrete"):
            make_learner(name, env)


@pytest.mark.long
@pytest.mark.parametrize("name", ["feudal", "lstm_a2c"])
def test_learns_a_tiny_key_door(name):
    # 5x7 KeyDoor, 30-step episodes, default hparams (FuN: alpha 0.05) but
    # a higher rate: the last 50 updates' return must beat the first 20's.
    env, env_params = make("KeyDoor-v0", height=5, width=7, max_steps_in_episode=30)
    config = {"num_envs": 8, "num_steps": 15}
    if name == "feudal":
        config.update(hidden=(32,), worker_hidden=32, goal_dim=8, horizon=5,
                      radius=5)  # fmt: skip
    learner = make_learner(name, env, **config)
    hparams = learner.default_hparams().replace(learning_rate=jnp.float32(3e-3))
    _, metrics = jax.jit(train, static_argnums=(0, 4))(
        learner, jax.random.key(0), hparams, env_params, 600
    )
    returns = np.nan_to_num(np.asarray(metrics["episode_return"]))
    early, late = returns[:20].mean(), returns[-50:].mean()
    assert late > early + 0.2, (early, late)
