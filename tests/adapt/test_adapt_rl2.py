"""RL^2's battery: smoke (the learner contract's state and metrics), member i
of a vmapped population equals the unbatched run, a population with other
numbers compiles once, the memory spans segments and resets only where a
trial ends (and an update replays a segment exactly), bad input refused
before compiling, and (slow) it learns to beat random play on 2-arm
bandits. Trials of 4 pulls cut by segments of 10 steps, so trials cross
segment boundaries."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.adapt.rl2 import RL2
from jaxmeta.envs.bandits import BernoulliBandit, BernoulliBanditTasks
from jaxmeta.envs.navigation2d import Navigation2D, Navigation2DTasks
from jaxmeta.envs.rl2 import RL2Trials
from jaxmeta.learners.base import hparams_with, split_train_key, train_from
from jaxmeta.learners.common.recurrent import collect_recurrent_rollout, unroll

TRIALS = RL2Trials(BernoulliBandit(2), BernoulliBanditTasks(2), 4)
LEARNER = RL2(TRIALS, num_envs=16, num_steps=10, hidden=16, num_minibatches=2)
PARAMS = TRIALS.default_params
NUM_UPDATES = 3
SIZE = 2
TRACES = []


def _counted_population(learner, keys, hparams, num_updates):
    TRACES.append("rl2")

    def one(key, hp):
        key_init, key_updates = split_train_key(key)
        state = learner.init(key_init, hp, PARAMS)
        return train_from(learner, key_updates, state, hp, PARAMS, num_updates)

    return jax.vmap(one)(keys, hparams)


population_train = jax.jit(_counted_population, static_argnums=(0, 3))
init = jax.jit(LEARNER.init)
chunk = jax.jit(train_from, static_argnums=(0, 5))


def _hparams(rates):
    base = hparams_with(LEARNER.default_hparams(), learning_rate=3e-3)
    batched = jax.tree_util.tree_map(lambda x: jnp.full((SIZE,), x), base)
    return batched.replace(learning_rate=jnp.asarray(rates, jnp.float32))


def _single(key, hparams):
    key_init, key_updates = split_train_key(key)
    state = init(key_init, hparams, PARAMS)
    return chunk(LEARNER, key_updates, state, hparams, PARAMS, NUM_UPDATES)


@pytest.fixture(scope="module")
def runs():
    keys = jax.random.split(jax.random.key(0), SIZE)
    hparams = _hparams([1e-3, 1e-2])
    batched = population_train(LEARNER, keys, hparams, NUM_UPDATES)
    singles = [
        _single(keys[i], jax.tree_util.tree_map(lambda x, i=i: x[i], hparams))
        for i in range(SIZE)
    ]
    same_key = jnp.stack([keys[0]] * SIZE)
    shared = population_train(LEARNER, same_key, _hparams([3e-3, 3e-2]), NUM_UPDATES)
    return batched, singles, shared


def test_smoke_state_and_metrics_follow_the_learner_contract(runs):
    state, metrics = runs[1][0]
    for field in ("episode_return", "episodes", "env_steps", "train/failure"):
        assert metrics[field].shape == (NUM_UPDATES,)
    np.testing.assert_array_equal(metrics["env_steps"], 160 * np.arange(1, 4))
    assert metrics["env_steps"].dtype == jnp.int32
    # 16 envs x 10 pulls = 40 trials of 4 pulls per update, each paying 0-4.
    np.testing.assert_array_equal(metrics["episodes"], [32, 48, 32])
    assert np.all((metrics["episode_return"] >= 0) & (metrics["episode_return"] <= 4))
    assert int(state.update_count) == NUM_UPDATES and not bool(state.diverged)
    assert state.memory.shape == (16, 16)
    obs = state.env.obs[:5]
    assert LEARNER.act(jax.random.key(1), state, obs).shape == (5,)
    greedy = [LEARNER.act(jax.random.key(k), state, obs, True) for k in (1, 2)]
    np.testing.assert_array_equal(*greedy)


def test_vmapped_member_equals_unbatched_run(runs, assert_member_matches):
    (states, metrics), singles, _ = runs
    for i, (state_i, metrics_i) in enumerate(singles):
        assert_member_matches(states, metrics, i, state_i, metrics_i)
        np.testing.assert_allclose(states.memory[i], state_i.memory, atol=1e-5)


def test_population_with_other_numbers_compiles_once(runs):
    _, _, (states, metrics) = runs
    assert TRACES == ["rl2"]
    # Same key: the first rollout is the same; the learning rates differ.
    returns, loss = metrics["episode_return"], metrics["train/policy_loss"]
    np.testing.assert_array_equal(returns[0, 0], returns[1, 0])
    assert not np.allclose(loss[0], loss[1])


def test_memory_spans_segments_resets_at_trial_ends_and_replays_exactly():
    state = init(jax.random.key(2), LEARNER.default_hparams(), PARAMS)
    net = LEARNER.network()

    def fn(key, memory, obs):
        action, log_prob, value, memory = LEARNER.policy_step(
            key, state.params, memory, obs
        )
        return memory, action, log_prob, value

    rollout = jax.jit(
        lambda key, env, memory: collect_recurrent_rollout(
            key, TRIALS, PARAMS, env, memory, 10, fn
        )
    )
    env, memory = state.env, state.memory
    for segment in range(2):
        start = memory
        env, memory, traj, _ = rollout(jax.random.key(segment), env, memory)
        ended = np.asarray(traj.done[-1])
        # Zero exactly where the segment's last step ended a trial: trials
        # of 4 pulls end at steps 3 and 7 of the first 10-step segment, at
        # steps 1, 5, 9 of the second.
        assert ended.all() == (segment == 1)
        norms = np.linalg.norm(np.asarray(memory), axis=1)
        np.testing.assert_array_equal(norms == 0, ended)
        if segment == 1:
            assert np.all(np.linalg.norm(np.asarray(start), axis=1) > 0)
        resets = jnp.concatenate([jnp.zeros_like(traj.done[:1]), traj.done[:-1]])
        _, logits, values = unroll(net, state.params, start, traj.obs, resets)
        log_prob = LEARNER.head.log_prob(logits, traj.action)
        np.testing.assert_allclose(log_prob, traj.log_prob, atol=1e-5)
        np.testing.assert_allclose(values, traj.value, atol=1e-5)


def test_an_lstm_cell_carries_its_pair_of_states():
    learner = RL2(TRIALS, num_envs=2, num_steps=3, hidden=4, cell="lstm",
                  num_epochs=1, num_minibatches=1)  # fmt: skip
    hparams = learner.default_hparams()
    state, metrics = jax.jit(
        lambda key: learner.update(
            key, learner.init(key, hparams, PARAMS), hparams, PARAMS
        )
    )(jax.random.key(0))
    cell, hidden = state.memory
    assert cell.shape == hidden.shape == (2, 4)
    assert bool(jnp.all(jnp.isfinite(cell))) and not bool(state.diverged)
    assert int(metrics["env_steps"]) == 6


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: RL2(BernoulliBandit(2)), "env must be an RL2Trials"),
        (lambda: RL2(TRIALS, cell="mlp"), r"cell must be one of \['gru', 'lstm'\]"),
        (lambda: RL2(TRIALS, num_envs=6, num_minibatches=4), "num_minibatches"),
        (lambda: RL2(TRIALS, embed=(0,)), "embed"),
        (lambda: RL2(TRIALS, hidden=0), "hidden"),
        (
            lambda: RL2(RL2Trials(Navigation2D(), Navigation2DTasks(), 2)),
            "Discrete",
        ),
    ],
)
def test_bad_rl2_config_is_refused_before_compiling(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.slow
def test_learns_to_beat_random_play_on_two_arm_bandits(runs):
    # Per trial of 4 pulls, random play earns 2; the Bayes-optimal policy
    # (dynamic programming over the Beta(1, 1) posteriors) 2.278.
    hparams = hparams_with(LEARNER.default_hparams(), learning_rate=3e-3)
    key_init, key_updates = split_train_key(jax.random.key(7))
    state = init(key_init, hparams, PARAMS)
    returns = []
    for _ in range(100):
        state, metrics = chunk(LEARNER, key_updates, state, hparams, PARAMS, 3)
        returns.append(np.asarray(metrics["episode_return"]))
    returns = np.concatenate(returns)
    assert abs(returns[:3].mean() - 2.0) < 0.3
    late = returns[-30:].mean()  # 30 updates x 40 trials: SE about 0.03
    assert 2.15 < late < 2.278 + 0.1
