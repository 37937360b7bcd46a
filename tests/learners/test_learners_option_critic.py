"""Tabular option-critic: one step's updates against a hand computation,
learning Four Rooms within a small budget, and bad input refused before
compiling; the network version learns CartPole (`long`) and refuses bad
input. (Smoke, vmapped == unbatched and compile-once: the battery.)"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.envs import make
from jaxmeta.envs.four_rooms import CELL_INDEX, NEXT_CELL, NUM_CELLS
from jaxmeta.learners import train
from jaxmeta.learners.base import check_hparams, hparams_with
from jaxmeta.learners.common.tabular_learner import Step, TabularState
from jaxmeta.learners.hierarchical.option_critic import OptionCritic
from jaxmeta.learners.hierarchical.option_critic_net import OptionCriticNet


@pytest.fixture(scope="module")
def four_rooms():
    return make("FourRooms-options", max_steps_in_episode=1000)


def _step(terminated: bool):
    one = lambda v, dtype=jnp.int32: jnp.asarray([v], dtype)  # noqa: E731
    return Step(
        obs=one(5), action=one(1), reward=one(0.25 if terminated else 0.0,
                                              jnp.float32),
        final_obs=one(6), next_obs=one(6), terminated=one(terminated, bool),
        truncated=one(False, bool), done=one(terminated, bool),
    )  # fmt: skip


def _crafted(learner):
    tables = learner.init_tables()
    tables["q_omega"] = tables["q_omega"].at[6].set(jnp.array([1.0, 2.0]))
    tables["q_omega"] = tables["q_omega"].at[5].set(jnp.array([0.5, 0.3]))
    tables["q_u"] = tables["q_u"].at[5, 0, 1].set(0.4)
    return tables


def test_one_step_matches_a_hand_computation(four_rooms):
    env, _ = four_rooms
    learner = OptionCritic(env, num_options=2)
    hparams = hparams_with(
        learner.default_hparams(), learning_rate=0.5, lr_intra=0.25, lr_term=0.25,
        temperature=0.5, xi=0.1, gamma=0.9,
    )  # fmt: skip
    tables = _crafted(learner)
    agent = {"option": jnp.asarray([0])}
    learn = jax.jit(learner.learn_step)
    new, td, beta = learn(tables, agent, _step(False), hparams, jnp.float32(0.2))
    # beta_0(6) = sigmoid(0) = 0.5; U = 0.5 * 1.0 + 0.5 * max(1, 2) = 1.5;
    # g = 0 + 0.9 * 1.5 = 1.35; td = 1.35 - 0.5 = 0.85.
    np.testing.assert_allclose(beta, [0.5])
    np.testing.assert_allclose(td, [0.85], rtol=1e-6)
    np.testing.assert_allclose(new["q_omega"][5], [0.925, 0.3], rtol=1e-6)
    np.testing.assert_allclose(new["q_u"][5, 0, 1], 0.875, rtol=1e-6)
    # feedback = Q_U - Q_Omega = 0.875 - 0.925 = -0.05; uniform pi;
    # logits move by (0.25 / 0.5) * (e_1 - 1/4) * (-0.05).
    np.testing.assert_allclose(
        new["logits"][5, 0], [0.00625, -0.01875, 0.00625, 0.00625], rtol=1e-5
    )
    # V(6) under epsilon-greedy, eps 0.2: 0.2 * 1.5 + 0.8 * 2 = 1.9;
    # A + xi = 1 - 1.9 + 0.1 = -0.8; v -= 0.25 * 0.25 * (-0.8) = +0.05.
    np.testing.assert_allclose(new["term"][6, 0], 0.05, rtol=1e-5)
    changed = {
        "q_omega": [(5, 0)],
        "q_u": [(5, 0, 1)],
        "logits": [(5, 0, a) for a in range(4)],
        "term": [(6, 0)],
    }
    for name, cells in changed.items():
        diff = np.array(new[name] != tables[name])
        for cell in cells:
            diff[cell] = False
        assert not diff.any(), name

    # A termination: g = r = 0.25, and no termination step in the absorbing s'.
    new, td, _ = learn(tables, agent, _step(True), hparams, jnp.float32(0.2))
    np.testing.assert_allclose(td, [0.25 - 0.5], rtol=1e-6)
    np.testing.assert_allclose(new["q_omega"][5, 0], 0.5 + 0.5 * (0.25 - 0.5))
    np.testing.assert_array_equal(new["term"], tables["term"])


def _random_walk_steps() -> float:
    """Expected steps to (7, 9) of the uniform random policy, mean over
    uniform starts (exact: first-passage times)."""
    goal = CELL_INDEX[7, 9]
    moves = np.zeros((NUM_CELLS, NUM_CELLS))
    for d in range(4):
        np.add.at(moves, (np.arange(NUM_CELLS), NEXT_CELL[:, d]), 0.25)
    keep = np.arange(NUM_CELLS) != goal
    a = np.eye(keep.sum()) - moves[np.ix_(keep, keep)]
    return float(np.linalg.solve(a, np.ones(keep.sum())).mean())


def test_learns_four_rooms(four_rooms):
    env, env_params = four_rooms
    learner = OptionCritic(env, num_steps=1000, record_episodes=True)
    keys = jax.random.split(jax.random.key(0), 4)
    run = jax.jit(jax.vmap(lambda k: train(learner, k, learner.default_hparams(),
                                           env_params, 30)))  # fmt: skip
    state, metrics = run(keys)
    lengths = np.asarray(metrics["train/ended_length"]).reshape(4, -1)
    last = [row[row > 0][-50:].mean() for row in lengths]
    random_walk = _random_walk_steps()
    assert random_walk > 400  # about 502
    # Well below the random walk, and episodes got shorter within a trial.
    assert np.mean(last) < 0.2 * random_walk, last
    first = [row[row > 0][:10].mean() for row in lengths]
    assert np.mean(first) > 2 * np.mean(last), (first, last)
    beta = np.asarray(jax.vmap(learner.termination_probabilities)(state))
    assert beta.shape == (4, NUM_CELLS, 4) and np.all((beta >= 0) & (beta <= 1))
    assert not np.allclose(beta, 0.5)  # terminations were learned


@pytest.mark.parametrize(
    "config, message",
    [
        ({"num_options": 0}, "num_options must be a positive integer"),
        ({"num_options": 2.5}, "num_options must be a positive integer"),
        ({"num_steps": 0}, "num_steps must be a positive integer"),
    ],
)
def test_bad_config_refused(four_rooms, config, message):
    with pytest.raises(ValueError, match=message):
        OptionCritic(four_rooms[0], **config)


def test_needs_a_tabular_env():
    env, _ = make("CartPole-v1")
    with pytest.raises(ValueError, match="integer state observations"):
        OptionCritic(env)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("temperature", 0.0, "temperature must lie in \\(0.0, inf\\]"),
        ("temperature", -1.0, "temperature"),
        ("xi", -0.01, "xi must lie in \\[0.0, inf\\]"),
        ("eps_start", 1.5, "eps_start must lie in \\[0.0, 1.0\\]"),
        ("learning_rate", 0.0, "learning_rate must lie in \\(0.0, 1.0\\]"),
        ("lr_term", 0.0, "lr_term"),
        ("gamma", 1.2, "gamma"),
    ],
)
def test_bad_hparams_refused(four_rooms, field, value, message):
    learner = OptionCritic(four_rooms[0])
    hparams = hparams_with(learner.default_hparams(), **{field: value})
    with pytest.raises(ValueError, match=message):
        check_hparams(learner, hparams)


def test_act_greedy_and_sampled(four_rooms):
    env, _ = four_rooms
    learner = OptionCritic(env, num_options=2)
    tables = learner.init_tables()
    # Option 1 is the greedy one in cell 3, and its policy prefers action 2.
    tables["q_omega"] = tables["q_omega"].at[3, 1].set(1.0)
    tables["logits"] = tables["logits"].at[3, 1, 2].set(50.0)
    state = TabularState(
        {"q": tables}, None, jnp.int32(0), jnp.float32(0.0), jnp.int32(0),
        jnp.asarray(False),
    )  # fmt: skip
    act = jax.jit(learner.act, static_argnums=3)
    obs = jnp.full((16,), 3)
    np.testing.assert_array_equal(act(jax.random.key(1), state, obs, True), 2)
    np.testing.assert_array_equal(act(jax.random.key(2), state, obs, False), 2)
    # Elsewhere the untrained policy is uniform: sampled actions vary.
    sampled = act(jax.random.key(3), state, jnp.zeros((64,), jnp.int32), False)
    assert len(set(np.asarray(sampled).tolist())) == 4


@pytest.mark.long
def test_network_option_critic_learns_cartpole():
    env, env_params = make("CartPole-v1")
    learner = OptionCriticNet(
        env, num_envs=8, num_steps=16, hidden=(64, 64), num_options=2
    )
    hparams = hparams_with(learner.default_hparams(), learning_rate=3e-3)
    run = jax.jit(
        jax.vmap(lambda k: train(learner, k, hparams, env_params, 500)),
    )
    _, metrics = run(jax.random.split(jax.random.key(0), 3))
    returns = np.asarray(metrics["episode_return"])
    first = np.nanmean(returns[:, :30])
    last = np.nanmean(returns[:, -30:])
    # A uniform policy keeps CartPole up for about 22 steps.
    assert first < 40 and last > 100, (first, last)
    assert not np.any(metrics["train/failure"])


@pytest.mark.parametrize(
    "config, message",
    [
        ({"num_options": 0}, "num_options must be a positive integer"),
        ({"normalize_obs": True}, "normalize_obs=False only"),
    ],
)
def test_network_bad_config_refused(config, message):
    env, _ = make("CartPole-v1")
    with pytest.raises(ValueError, match=message):
        OptionCriticNet(env, **config)


def test_network_needs_discrete_actions():
    env, _ = make("Pendulum-v1")
    with pytest.raises(ValueError, match="needs discrete actions"):
        OptionCriticNet(env)


@pytest.mark.parametrize(
    "field, value",
    [("xi", -0.1), ("epsilon", 1.5), ("learning_rate", 0.0), ("term_coef", -1.0)],
)
def test_network_bad_hparams_refused(field, value):
    env, _ = make("CartPole-v1")
    learner = OptionCriticNet(env)
    hparams = hparams_with(learner.default_hparams(), **{field: value})
    with pytest.raises(ValueError, match=f"hparams.{field} must lie in"):
        check_hparams(learner, hparams)
