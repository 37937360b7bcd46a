"""Tabular Q-learning and SARSA on a small deterministic chain MDP whose
values are known exactly (value iteration), and their input checks.

The tolerance of the exact-convergence test, derived: on a deterministic
MDP with step size alpha = 1 every update sets Q(s, a) = r + gamma max_b
Q(s', b). Starting from Q = 0 <= Q* (rewards >= 0), the values only rise
toward Q* and, once the successor of (s, a) along a shortest path to the
goal is exact, one visit of (s, a) makes it exact; the chain has no cycle
on a shortest path, so after enough visits (uniform random behaviour,
epsilon = 1, thousands of steps for 8 state-action pairs) Q = Q* up to
float32 rounding: one multiply-add per backup, at most LENGTH backups from
the goal, each within 2^-24 relative of values <= 1, so |Q - Q*| <=
LENGTH * 2^-23 < 1e-6.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct
from gymnax.environments import environment, spaces

from jaxmeta.envs import make
from jaxmeta.learners import hparams_with, make_learner, train
from jaxmeta.learners.hierarchical.option_sets import (
    option_value_iteration,
    primitive_options,
)
from jaxmeta.learners.qlearning import SARSA, QLearning

LENGTH = 5  # states 0..4; state 4 is the goal
GAMMA = 0.9
EXACT = LENGTH * 2.0**-23


@struct.dataclass
class ChainState(environment.EnvState):
    pos: jax.Array
    time: int


@struct.dataclass
class ChainParams(environment.EnvParams):
    max_steps_in_episode: int = 1000


class Chain(environment.Environment):
    """States 0..length-1, action 0 left, 1 right (a wall at 0); entering
    the last state pays 1 and terminates. Starts uniform over the others."""

    def __init__(self, length: int = LENGTH):
        super().__init__()
        self.length = length

    @property
    def default_params(self):
        return ChainParams()

    def step_env(self, key, state, action, params):
        pos = jnp.clip(state.pos + 2 * action - 1, 0, self.length - 1)
        goal = pos == self.length - 1
        new = ChainState(pos=pos, time=state.time + 1)
        return pos, new, goal.astype(jnp.float32), goal, {}

    def reset_env(self, key, params):
        pos = jax.random.randint(key, (), 0, self.length - 1)
        return pos, ChainState(pos=pos, time=0)

    def get_obs(self, state, params=None, key=None):
        return state.pos

    def observation_space(self, params):
        return spaces.Discrete(self.length)

    def action_space(self, params=None):
        return spaces.Discrete(2)


def chain_model(length: int = LENGTH):
    """`(transition [S, 2, S], reward [S, 2], terminal [S])` of `Chain`."""
    states = np.arange(length)
    nxt = np.clip(states[:, None] + np.array([-1, 1]), 0, length - 1)
    transition = np.zeros((length, 2, length))
    transition[states[:, None], [0, 1], nxt] = 1.0
    reward = (nxt == length - 1).astype(float)
    return transition, reward, states == length - 1


def chain_q_star(length: int = LENGTH, gamma: float = GAMMA):
    """Q* [S, 2] of the chain by value iteration (NaN-free)."""
    transition, reward, terminal = chain_model(length)
    return option_value_iteration(
        transition, reward, terminal, primitive_options(length, 2), gamma
    )


def epsilon_soft_q(epsilon, length: int = LENGTH, gamma: float = GAMMA):
    """The fixed point SARSA with a constant epsilon converges to: Q(s, a)
    = r + gamma E_{a' ~ eps-greedy(Q)(s')} Q(s', a'), by iteration."""
    transition, reward, terminal = chain_model(length)
    q = np.zeros((length, 2))
    for _ in range(5_000):
        greedy = np.eye(2)[np.argmax(q, 1)]
        v = np.sum(((1 - epsilon) * greedy + epsilon / 2) * q, 1) * ~terminal
        q = reward + gamma * transition @ v
    return q


TRAIN = jax.jit(
    jax.vmap(train, in_axes=(None, 0, 0, None, None)), static_argnums=(0, 4)
)


def _train(cls, values: list[dict], num_updates=40, seed=0):
    """Train one member per hparams dict in `values` (one compile per
    class); returns the Q tables [members, S, 2] and metrics."""
    env = Chain()
    learner = cls(env, num_envs=4, num_steps=64)
    rows = [hparams_with(learner.default_hparams(), **v) for v in values]
    hparams = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *rows)
    keys = jax.random.split(jax.random.key(seed), len(values))
    state, metrics = TRAIN(learner, keys, hparams, env.default_params, num_updates)
    return np.asarray(state.params["q"]), metrics


# alpha 1, epsilon 1 (uniform behaviour): exact; alpha 0.05, epsilon 0.5.
EXACT_RUN = dict(learning_rate=1.0, eps_start=1.0, eps_end=1.0, gamma=GAMMA)
SOFT_RUN = dict(learning_rate=0.05, eps_start=0.5, eps_end=0.5, gamma=GAMMA)


@pytest.fixture(scope="module")
def runs():
    return {cls: _train(cls, [EXACT_RUN, SOFT_RUN]) for cls in (QLearning, SARSA)}


def test_q_learning_converges_to_value_iteration_exactly(runs):
    q, metrics = runs[QLearning]
    alive = slice(0, LENGTH - 1)  # the goal is never acted in
    np.testing.assert_allclose(q[0, alive], chain_q_star()[alive], atol=EXACT, rtol=0)
    assert np.all(np.asarray(metrics["env_steps"])[:, -1] == 40 * 4 * 64)
    assert np.all(np.asarray(metrics["episodes"]).sum(1) > 100)


def test_sarsa_learns_its_epsilon_greedy_values_and_q_learning_the_optimal(runs):
    alive = slice(0, LENGTH - 1)
    star, soft = chain_q_star()[alive], epsilon_soft_q(0.5)[alive]
    # The two fixed points differ by far more than the step-size noise.
    assert np.max(np.abs(star - soft)) > 0.1
    q_sarsa, q_learn = runs[SARSA][0][1, alive], runs[QLearning][0][1, alive]
    # alpha = 0.05 fluctuates about the fixed point by O(alpha) (< 0.05 here).
    assert np.max(np.abs(q_sarsa - soft)) < 0.05, q_sarsa - soft
    assert np.max(np.abs(q_learn - star)) < 0.05, q_learn - star
    # SARSA with epsilon decayed to 0 (GLIE) finds the optimal greedy values
    # of the states it visits (all: starts are uniform), exactly (alpha 1).
    decayed = dict(
        learning_rate=1.0, eps_start=1.0, eps_end=0.0, eps_decay_episodes=50.0
    )
    q, _ = _train(SARSA, [decayed, SOFT_RUN])
    np.testing.assert_allclose(
        q[0, alive].max(1), chain_q_star()[alive].max(1), atol=EXACT, rtol=0
    )


def test_tabular_learners_refuse_envs_without_state_indices():
    env, _ = make("CartPole-v1")
    with pytest.raises(ValueError, match="integer state observations"):
        QLearning(env)
    env, _ = make("Taxi-v3", obs_mode="one_hot")
    with pytest.raises(ValueError, match="Discrete observation space"):
        make_learner("sarsa", env)
    taxi, _ = make("Taxi-v3")
    with pytest.raises(ValueError, match="num_steps must be a positive integer"):
        make_learner("qlearning", taxi, num_steps=0)
    with pytest.raises(ValueError, match="record_episodes must be true or false"):
        SARSA(taxi, record_episodes=1)
