"""TD3: the delayed actor and target step, target policy smoothing and its
clip; its battery on Pendulum-v1 (smoke, a
vmapped population, one task per member, equal to unbatched runs, members
that differ only in hparams, compiled once), random actions before
learning_starts, act's bounds and noise per member's task; bad input
refused; learning Pendulum-v1 (long)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.envs import make
from jaxmeta.learners import hparams_with, train
from jaxmeta.learners.base import check_hparams
from jaxmeta.learners.common.evaluate import evaluate
from jaxmeta.learners.td3 import TD3, TD3Core

# About 20-60 s of compiles: runs with `pytest -m long` (suite budget).
pytestmark = pytest.mark.long

PENDULUM, PENDULUM_PARAMS = make("Pendulum-v1")
# 2 envs x 32 steps: updates 0-1 take random actions, update 0's gradient
# steps are discarded (64 < 128 transitions), update 1's count.
LEARNER = TD3(
    PENDULUM,
    num_envs=2,
    num_steps=32,
    gradient_steps=3,
    buffer_capacity=256,
    batch_size=16,
    learning_starts=128,
    hidden=(16, 16),
)
CORE = LEARNER.core  # 1 action, (16, 16), policy_delay 2
HPARAMS = LEARNER.default_hparams()
NUM_UPDATES = 4
POP = 3
TORQUES = jnp.array([0.5, 2.0, 4.0], jnp.float32)
TASKS = jax.vmap(lambda t: PENDULUM_PARAMS.replace(max_torque=t))(TORQUES)
TRACES = []
single_train = jax.jit(train, static_argnums=(0, 4))


def _batch(key, size=16, obs_dim=3):
    keys = jax.random.split(key, 4)
    return {
        "obs": jax.random.normal(keys[0], (size, obs_dim)),
        "action": jax.random.uniform(keys[1], (size, 1), minval=-1.0),
        "reward": jax.random.normal(keys[2], (size,)),
        "next_obs": jax.random.normal(keys[3], (size, obs_dim)),
        "terminated": jnp.arange(size) % 5 == 0,
    }


@jax.jit
def _core_step(key, nets, batch, hparams, step):
    return CORE.step(key, *nets, batch, hparams, step)


@pytest.fixture(scope="module")
def core_nets(population_runs):
    # A trained member's networks, targets and Adam states (no new compile).
    state = population_runs[1][1][0]
    return state.params, state.target_params, state.opt_state


def _allclose(a, b, **tol):
    leaves = zip(
        jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True
    )
    return all(np.allclose(x, y, **tol) for x, y in leaves)


def test_actor_and_targets_step_every_policy_delay_critic_steps(core_nets):
    params, target, opt_state = core_nets
    actor_steps = int(opt_state["actor"][0].count)
    batch = _batch(jax.random.key(1))
    tau = float(HPARAMS.tau)
    for step in (0, 2):  # (step + 1) % 2 != 0: critics only
        new, new_target, new_opt, aux = _core_step(
            jax.random.key(2), core_nets, batch, HPARAMS, step
        )
        assert not _allclose(new["critic"], params["critic"])
        assert _allclose(new["actor"], params["actor"])
        assert _allclose(new_target, target)
        assert int(new_opt["actor"][0].count) == actor_steps
    for step in (1, 3):
        new, new_target, new_opt, aux = _core_step(
            jax.random.key(2), core_nets, batch, HPARAMS, step
        )
        assert not _allclose(new["actor"], params["actor"])
        assert int(new_opt["actor"][0].count) == actor_steps + 1
        # Polyak toward the stepped actor and critics, from the old targets.
        expected = jax.tree_util.tree_map(
            lambda t, o: (1 - tau) * t + tau * o, target, new
        )
        assert _allclose(new_target, expected, rtol=1e-6, atol=1e-7)
    assert all(np.isfinite(float(v)) for v in aux.values())

    # The actor loss is -Q1 of the policy under the stepped critics.
    def actor_loss(actor_params):
        action = CORE.policy(actor_params, batch["obs"])
        return -jnp.mean(CORE.critic().apply(new["critic"], batch["obs"], action)[0])

    np.testing.assert_allclose(aux["actor_loss"], actor_loss(params["actor"]), 1e-5)
    assert float(actor_loss(new["actor"])) < float(aux["actor_loss"])


def test_target_smoothing_noise_is_scaled_and_clipped(core_nets):
    batch = _batch(jax.random.key(1))

    def critic_after(key, **values):
        hparams = hparams_with(HPARAMS, **values)
        return _core_step(key, core_nets, batch, hparams, 0)[0]["critic"]

    key_a, key_b = jax.random.key(3), jax.random.key(4)
    # Noise changes the target; without it, or clipped to 0, the key does not.
    assert not _allclose(critic_after(key_a), critic_after(key_b))
    quiet = critic_after(key_a, policy_noise=0.0)
    assert _allclose(quiet, critic_after(key_b, policy_noise=0.0))
    assert not _allclose(quiet, critic_after(key_a))
    assert _allclose(quiet, critic_after(key_a, noise_clip=0.0))
    assert _allclose(quiet, critic_after(key_b, noise_clip=0.0))


def _member(tree, i):
    return jax.tree_util.tree_map(lambda x: x[i], tree)


def _counted_population_train(learner, keys, hparams, tasks, num_updates):
    TRACES.append(type(learner).__name__)
    return jax.vmap(train, in_axes=(None, 0, 0, 0, None))(
        learner, keys, hparams, tasks, num_updates
    )


population_train = jax.jit(_counted_population_train, static_argnums=(0, 4))


def _population(scale):
    hparams = jax.tree_util.tree_map(lambda x: jnp.full((POP,), x), HPARAMS)
    rates = scale * jnp.geomspace(1e-4, 1e-2, POP).astype(jnp.float32)
    return hparams.replace(
        learning_rate=rates,
        critic_learning_rate=rates,
        gamma=jnp.linspace(0.9, 0.99, POP).astype(jnp.float32),
    )


@pytest.fixture(scope="module")
def population_runs():
    keys = jax.random.split(jax.random.key(0), POP)
    hparams = _population(1.0)
    batched = population_train(LEARNER, keys, hparams, TASKS, NUM_UPDATES)
    singles = [
        single_train(
            LEARNER, keys[i], _member(hparams, i), _member(TASKS, i), NUM_UPDATES
        )
        for i in range(POP)
    ]
    # Other rates, one key for all: the compiled program is reused.
    same_key = jnp.stack([keys[0]] * POP)
    shared = population_train(LEARNER, same_key, _population(3.0), TASKS, NUM_UPDATES)
    return batched, singles, shared


def test_smoke_pendulum(population_runs):
    _, singles, _ = population_runs
    for i, (state, metrics) in enumerate(singles):
        for field in ("episode_return", "episodes", "env_steps", "train/failure"):
            assert metrics[field].shape == (NUM_UPDATES,)
        for field in ("actor_loss", "critic_loss", "q", "diverged"):
            assert np.all(np.isfinite(metrics[f"train/{field}"])), field
        assert metrics["env_steps"].dtype == jnp.int32
        np.testing.assert_array_equal(metrics["env_steps"], [64, 128, 192, 256])
        assert not np.any(metrics["train/failure"]) and not bool(state.diverged)
        assert int(state.update_count) == NUM_UPDATES
        # Critic steps 3-11 count, the actor steps on the odd ones (delay 2).
        assert int(state.opt_state["critic"][0].count) == 9
        assert int(state.opt_state["actor"][0].count) == 5
        # 128 steps per env, Pendulum truncates at 200: no episode ended.
        np.testing.assert_array_equal(metrics["episodes"], np.zeros(NUM_UPDATES))
        assert np.all(np.isnan(metrics["episode_return"]))
        assert int(state.buffer.size) == 256 and not np.any(state.buffer.terminated)
        np.testing.assert_array_equal(state.env.action_high, [TORQUES[i]])


def test_vmapped_member_equals_unbatched_run(population_runs, assert_member_matches):
    (states, metrics), singles, _ = population_runs
    for i, (state_i, metrics_i) in enumerate(singles):
        assert_member_matches(states, metrics, i, state_i, metrics_i)
        for a, b in zip(
            jax.tree_util.tree_leaves(state_i.target_params),
            jax.tree_util.tree_leaves(states.target_params),
            strict=True,
        ):
            np.testing.assert_allclose(b[i], a, rtol=1e-5, atol=1e-5)


def test_members_differ_when_only_hparams_differ_and_compile_once(population_runs):
    _, _, (states, metrics) = population_runs
    assert TRACES.count("TD3") == 1
    for leaf in jax.tree_util.tree_leaves(states.params):
        assert not np.allclose(leaf[0], leaf[-1])
    # Same key and random actions: the first update's data are equal.
    np.testing.assert_array_equal(
        states.buffer.action[0, :128], states.buffer.action[-1, :128]
    )
    assert not np.allclose(
        metrics["train/critic_loss"][0], metrics["train/critic_loss"][-1]
    )


def test_random_actions_before_learning_starts_then_the_policy(population_runs):
    _, singles, _ = population_runs
    state, _ = singles[1]
    actions = np.asarray(state.buffer.action[:, 0])  # in [-1, 1], [time, env] rows
    random, late = actions[:128], actions[128:]
    assert random.min() < -0.8 and random.max() > 0.8
    np.testing.assert_allclose(np.std(random), 1 / np.sqrt(3), rtol=0.25)
    # Later: the policy's mean (near 0 this early) plus noise of std 0.1.
    assert np.std(late) < 0.3 and np.abs(late).max() < 0.6


def test_act_follows_each_members_bounds_and_noise(population_runs):
    _, singles, _ = population_runs
    obs = jax.random.normal(jax.random.key(7), (2048, 3))
    for i, (state, _) in enumerate(singles):
        torque = float(TORQUES[i])
        greedy = LEARNER.act(jax.random.key(1), state, obs, deterministic=True)
        again = LEARNER.act(jax.random.key(2), state, obs, deterministic=True)
        noisy = LEARNER.act(jax.random.key(1), state, obs)
        assert greedy.shape == noisy.shape == (2048, 1)
        np.testing.assert_array_equal(greedy, again)
        assert float(jnp.max(jnp.abs(noisy))) <= torque
        unit = LEARNER.core.policy(state.params["actor"], obs)
        np.testing.assert_allclose(greedy, torque * unit, rtol=1e-5, atol=1e-6)
        # Noise std 0.1 in [-1, 1] units: 0.1 * torque in the env's.
        np.testing.assert_allclose(jnp.std(noisy - greedy), 0.1 * torque, rtol=0.1)


def test_bad_config_and_hparams_are_refused():
    cartpole, _ = make("CartPole-v1")
    with pytest.raises(ValueError, match="continuous"):
        TD3(cartpole)
    for field, value in (("policy_delay", 0), ("batch_size", 0)):
        with pytest.raises(ValueError, match=field):
            TD3(PENDULUM, **{field: value})
    with pytest.raises(ValueError, match="learning_starts"):
        TD3(PENDULUM, learning_starts=-1)
    with pytest.raises(ValueError, match="buffer_capacity"):
        TD3(PENDULUM, num_envs=4, num_steps=8, buffer_capacity=16)
    with pytest.raises(ValueError, match="activation"):
        TD3Core(2, activation="swish")
    with pytest.raises(ValueError, match="policy_delay"):
        TD3Core(2, policy_delay=1.5)
    learner = TD3(PENDULUM)
    for name, value in (
        ("exploration_noise", -0.1),
        ("policy_noise", -0.2),
        ("noise_clip", -0.5),
        ("tau", 0.0),
        ("gamma", 1.5),
        ("critic_learning_rate", 0.0),
    ):
        hparams = hparams_with(learner.default_hparams(), **{name: value})
        with pytest.raises(ValueError, match=f"hparams.{name} must lie in"):
            check_hparams(learner, hparams)


@pytest.mark.long
def test_td3_learns_pendulum():
    env, env_params = make("Pendulum-v1")
    learner = TD3(
        env,
        num_envs=4,
        num_steps=8,
        gradient_steps=32,
        buffer_capacity=20_000,
        batch_size=128,
        learning_starts=1_000,
        hidden=(64, 64),
    )
    hparams = learner.default_hparams()
    state, metrics = single_train(learner, jax.random.key(0), hparams, env_params, 500)
    returns, _ = jax.jit(evaluate, static_argnums=(0, 4, 5, 6))(
        learner, jax.random.key(100), state, env_params, 16, 200, True
    )
    assert not np.any(metrics["train/failure"])
    assert float(np.mean(returns)) > -400.0, float(np.mean(returns))
