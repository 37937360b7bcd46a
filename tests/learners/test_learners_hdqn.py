"""h-DQN: its two replay buffers hold the SMDP and intrinsic transitions
the paper defines, the controller's epsilon per subgoal, bad configs
refused before compiling, and (long) learning on the chain."""

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.envs import make
from jaxmeta.learners import hparams_with, train
from jaxmeta.learners.hierarchical.hdqn import HDQN
from jaxmeta.learners.hierarchical.hdqn_parts import epsilons


@pytest.fixture(scope="module")
def one_update():
    env, params = make("StochasticChain-v0")
    # No learning (learning_starts above the update): pure rollout.
    learner = HDQN(env, num_envs=4, num_steps=32, learning_starts=1000,
                   buffer_capacity=128, meta_buffer_capacity=128,
                   subgoals=(0, 3, 5), hidden=(8,))  # fmt: skip
    state, metrics = jax.jit(train, static_argnums=(0, 4))(
        learner, jax.random.key(0), learner.default_hparams(), params, 1
    )
    return learner, state, metrics


def test_controller_transitions_pay_one_on_reaching_the_subgoal(one_update):
    learner, state, _ = one_update
    buf = state.buffer
    assert int(buf.size) == 128
    obs, nxt = np.asarray(buf.obs), np.asarray(buf.next_obs)
    s, s_next = obs[:, :6].argmax(1), nxt[:, :6].argmax(1)
    goal = np.asarray(learner.subgoals)[obs[:, 6:].argmax(1)]
    np.testing.assert_array_equal(obs[:, 6:], nxt[:, 6:])  # same subgoal
    assert set(np.abs(s_next - s)) == {1} | ({0} if np.any(s == 5) else set())
    reached = s_next == goal
    np.testing.assert_array_equal(np.asarray(buf.reward), reached.astype(float))
    # The sub-episode ends on reaching the subgoal or in s1.
    np.testing.assert_array_equal(np.asarray(buf.terminated), reached | (s_next == 0))


def test_meta_transitions_sum_the_extrinsic_reward(one_update):
    learner, state, metrics = one_update
    meta = state.meta_buffer
    size = int(meta.size)
    assert size > 10
    s0 = np.asarray(meta.obs[:size]).argmax(1)
    s_n = np.asarray(meta.next_obs[:size]).argmax(1)
    goal = np.asarray(learner.subgoals)[np.asarray(meta.action[:size, 0])]
    reward = np.asarray(meta.reward[:size])
    terminated = np.asarray(meta.terminated[:size])
    # Each subgoal ended where it was reached, or in s1 (the episode's end).
    assert np.all((s_n == goal) | (s_n == 0))
    np.testing.assert_array_equal(terminated, s_n == 0)
    # Extrinsic reward comes only on arriving in s1: 0.01 or 1.
    np.testing.assert_allclose(reward[s_n != 0], 0.0)
    paid = reward[s_n == 0]
    assert np.all(np.isclose(paid, 0.01) | np.isclose(paid, 1.0))
    # Every episode starts in s2; a subgoal after the first starts where
    # the last one ended.
    assert np.all(s0 > 0)
    episodes = float(metrics["episodes"][0])
    assert np.sum(terminated) == episodes
    n_goals = np.asarray(state.attempts).sum()
    assert n_goals == size
    ended = np.asarray(metrics["train/goal_success"])[0]
    assert ended == pytest.approx(float(np.mean(s_n == goal)), abs=1e-6)


def test_controller_epsilon_follows_the_success_rate():
    env, _ = make("StochasticChain-v0")
    learner = HDQN(env, subgoals=(0, 5), controller_eps="success",
                   learning_starts=0, hidden=(8,))  # fmt: skip
    hp = hparams_with(learner.default_hparams(), eps_end=0.1, eps_decay_steps=100)
    state = SimpleNamespace(
        update_count=jnp.int32(0),
        attempts=jnp.array([10.0, 0.0]),
        successes=jnp.array([9.5, 0.0]),
    )
    meta, controller = epsilons(learner, state, hp)
    np.testing.assert_allclose(controller, [0.1, 1.0])  # clip(1 - rate)
    assert float(meta) == 1.0  # no env steps yet
    linear = HDQN(env, learning_starts=0, hidden=(8,))
    state.update_count = jnp.int32(10)  # 40 env steps done
    meta, controller = epsilons(linear, state, hp)
    np.testing.assert_allclose(controller, np.full(6, float(meta)))
    assert float(meta) == pytest.approx(1.0 - 0.9 * 40 / 100)
    late = HDQN(env, learning_starts=41, hidden=(8,))
    assert [float(x.max()) for x in epsilons(late, state, hp)] == [1.0, 1.0]


@pytest.mark.parametrize(
    "config, match",
    [
        ({"subgoals": (0, 6)}, r"subgoals must be state indices in 0\.\.5"),
        ({"subgoals": (-1,)}, r"subgoals must be state indices in 0\.\.5"),
        ({"subgoals": (2, 2)}, "subgoals must be distinct"),
        ({"subgoals": ()}, "subgoals must be a non-empty list"),
        ({"controller_eps": "fixed"}, "controller_eps must be one of"),
        ({"meta_buffer_capacity": 2}, "meta_buffer_capacity"),
        ({"loss": "l1"}, "loss must be one of"),
    ],
)
def test_bad_configs_are_refused(config, match):
    env, _ = make("StochasticChain-v0")
    with pytest.raises(ValueError, match=match):
        HDQN(env, **config)


def test_bad_envs_are_refused():
    with pytest.raises(ValueError, match="discrete action space"):
        HDQN(make("Pendulum-v1")[0])
    with pytest.raises(ValueError, match="state-index .* or one-hot"):
        HDQN(make("Breakout-MinAtar")[0])


@pytest.mark.long
def test_learns_to_visit_s6():
    """30k env steps: h-DQN's training reward per episode far above the
    0.01 of going straight to s1 (the optimum is 0.208)."""
    env, params = make("StochasticChain-v0", obs_mode="one_hot")
    learner = HDQN(env, num_envs=8, num_steps=16, gradient_steps=4,
                   learning_starts=512, target_update_every=10, hidden=(32,),
                   batch_size=64)  # fmt: skip
    hp = hparams_with(
        learner.default_hparams(), learning_rate=1e-3, eps_decay_steps=20_000.0
    )
    _, metrics = jax.jit(train, static_argnums=(0, 4))(
        learner, jax.random.key(0), hp, params, 240
    )
    returns = np.asarray(metrics["episode_return"][-60:])
    episodes = np.asarray(metrics["episodes"][-60:])
    late = float(np.nansum(returns * episodes) / episodes.sum())
    assert late > 0.1, late
