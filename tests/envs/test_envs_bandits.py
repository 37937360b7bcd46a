"""Bernoulli bandits and random tabular MDPs on the gymnax contract, their
task distributions, and RL2Trials over them (a one-pull episode included)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.envs import make
from jaxmeta.envs.bandits import BernoulliBandit, BernoulliBanditTasks
from jaxmeta.envs.random_mdp import RandomMDP, RandomMDPParams, RandomMDPTasks
from jaxmeta.envs.rl2 import RL2Trials


@functools.partial(jax.jit, static_argnums=(0, 3))
def _pulls(env, params, action, count):
    obs, state = env.reset(jax.random.key(0), params)
    keys = jax.random.split(jax.random.key(1), count)
    step = jax.vmap(env.step, in_axes=(0, None, None, None))
    return step(keys, state, action, params)


def test_bandit_pays_each_arm_with_its_probability_and_ends_every_pull():
    probs = (0.0, 1.0, 0.3, 0.6)
    env, params = make("BernoulliBandit-v0", num_arms=4, probs=list(probs))
    assert env.num_actions == 4 and env.observation_space().shape == (1,)
    for arm, prob in enumerate(probs):
        obs, _, reward, terminated, _, _ = _pulls(env, params, arm, 4000)
        assert np.all(np.asarray(terminated))
        np.testing.assert_array_equal(obs, np.zeros((4000, 1)))
        assert abs(float(reward.mean()) - prob) < 0.03
    # One uniform per step whichever arm: the same key pays a better arm too.
    low, high = _pulls(env, params, 2, 64)[2], _pulls(env, params, 3, 64)[2]
    assert bool(jnp.all(low <= high)) and bool(jnp.any(low < high))


def test_bandit_tasks_draw_uniform_arms_in_range():
    tasks = BernoulliBanditTasks(num_arms=4, probs=(0.2, 0.6))
    keys = jax.random.split(jax.random.key(0), 500)
    probs = jax.jit(jax.vmap(tasks.sample))(keys).probs
    assert probs.shape == (500, 4)
    assert float(probs.min()) >= 0.2 and float(probs.max()) <= 0.6
    assert abs(float(probs.mean()) - 0.4) < 0.01


def test_random_mdp_follows_its_tables_and_ends_at_the_horizon():
    env = RandomMDP(num_states=3, num_actions=2, horizon=4)
    # Action 0 moves s -> s + 1 (mod 3), action 1 stays; means 10 s + a.
    move = np.stack([np.roll(np.eye(3), 1, axis=1), np.eye(3)], axis=1)
    mean = 10.0 * np.arange(3)[:, None] + np.arange(2)[None, :]
    params = RandomMDPParams(
        reward_mean=jnp.asarray(mean, jnp.float32),
        transition=jnp.asarray(move, jnp.float32),
        reward_std=0.0,
        max_steps_in_episode=4,
    )
    obs, state = env.reset(jax.random.key(0), params)
    np.testing.assert_array_equal(obs, [1.0, 0.0, 0.0])  # always starts in 0
    seen = []
    for t, action in enumerate([0, 1, 0, 0, 0]):
        obs, state, reward, terminated, truncated, info = env.step(
            jax.random.key(t), state, action, params
        )
        seen.append((float(reward), int(jnp.argmax(info["final_observation"]))))
        assert bool(terminated) == (t == 3)
    assert seen[:4] == [(0.0, 1), (11.0, 1), (10.0, 2), (20.0, 0)]
    assert seen[4] == (0.0, 1)  # a new episode from state 0


def test_random_mdp_tasks_match_the_paper_distribution():
    tasks = RandomMDPTasks()
    keys = jax.random.split(jax.random.key(0), 400)
    drawn = jax.jit(jax.vmap(tasks.sample))(keys)
    assert drawn.reward_mean.shape == (400, 10, 5)
    assert drawn.transition.shape == (400, 10, 5, 10)
    np.testing.assert_allclose(drawn.transition.sum(-1), 1.0, rtol=1e-5)
    assert abs(float(drawn.reward_mean.mean()) - 1.0) < 0.05
    assert abs(float(drawn.reward_mean.std()) - 1.0) < 0.05
    # A flat Dirichlet over 10 states: each probability has mean 0.1 and
    # variance (1/10)(9/10)/11.
    assert abs(float(drawn.transition.var()) - 0.9 / 110) < 5e-4


def test_trials_of_one_pull_episodes_count_pulls_and_resample_at_trials():
    trials = RL2Trials(BernoulliBandit(3), BernoulliBanditTasks(3), 4)
    assert trials.obs_dim == 1 + 3 + 2
    params = trials.default_params

    def body(state, key):
        obs, state, reward, term, trunc, info = trials.step(key, state, 1, params)
        return state, (obs, term, trunc, info["trial_done"], state.task.probs)

    obs0, state = trials.reset(jax.random.key(0), params)
    keys = jax.random.split(jax.random.key(1), 9)
    _, (obs, term, trunc, done, probs) = jax.lax.scan(body, state, keys)
    expected = np.zeros(9, bool)
    expected[[3, 7]] = True
    np.testing.assert_array_equal(done, expected)
    np.testing.assert_array_equal(term, expected)  # the last pull terminates
    assert not bool(jnp.any(trunc))
    # Within a trial: previous action one-hot and done = 1 after every pull.
    np.testing.assert_array_equal(obs[0, 1:4], [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(obs[:3, -1], np.ones(3))
    np.testing.assert_array_equal(obs[3, 1:], np.zeros(5))  # a fresh trial
    np.testing.assert_array_equal(probs[:3], np.broadcast_to(probs[0], (3, 3)))
    assert not np.allclose(probs[3], probs[2])
    mdp_trials = RL2Trials(RandomMDP(), RandomMDPTasks(), 2)
    assert mdp_trials.obs_dim == 10 + 5 + 2
    assert mdp_trials.default_params.max_steps_in_episode == 20


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: BernoulliBandit(1), "num_arms"),
        (lambda: BernoulliBanditTasks(num_arms=3, probs=(0.0, 2.0)), "probs"),
        (lambda: make("BernoulliBandit-v0", num_arms=2, probs=[0.5]), "probs"),
        (lambda: RandomMDP(num_states=0), "num_states"),
        (lambda: RandomMDPTasks(concentration=0.0), "concentration"),
        (lambda: RandomMDPTasks(horizon=2.5), "horizon"),
    ],
)
def test_bad_env_arguments_raise_naming_the_field(build, message):
    with pytest.raises(ValueError, match=message):
        build()
