"""The RL^2 paper's baselines in JAX: Gittins indices against published
values, bandit agents that find a certain best arm and beat random on
uniform tasks, value iteration, and MDP agents (PSRL, Q-learning, greedy)
that improve over the episodes of a trial. Each group of agents runs in one
compiled program (vmapped over tasks)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.adapt import bandit_baselines as bandit
from jaxmeta.adapt import mdp_baselines as mdp
from jaxmeta.envs.bandits import (
    BernoulliBandit,
    BernoulliBanditParams,
    BernoulliBanditTasks,
)
from jaxmeta.envs.random_mdp import RandomMDP, RandomMDPTasks
from jaxmeta.learners.common.trials import run_trial

ARMS, PULLS, TASKS = 4, 20, 128


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _trials(agents, env, episodes, params, tasks, keys):
    """Per agent: totals [M] and episode returns [M, episodes]."""
    return tuple(
        jax.vmap(lambda k, t, a=a, p=p: run_trial(a, k, p, env, t, episodes))(
            keys, tasks
        )
        for a, p in zip(agents, params, strict=True)
    )


def test_gittins_table_matches_published_indices():
    # Discount 0.9, uniform prior (Gittins et al. 2011): 0-0 0.7029, 1-1
    # 0.6346, 2-2 0.6010, 9 successes and 1 failure 0.8695.
    table = bandit.gittins_table(0.9, 12)
    for (s, f), value in {(0, 0): 0.7029, (1, 1): 0.6346, (2, 2): 0.6010,
                          (9, 1): 0.8695}.items():  # fmt: skip
        assert table[s, f] == pytest.approx(value, abs=2e-4)
    s, f = np.meshgrid(np.arange(13), np.arange(13), indexing="ij")
    valid = s + f <= 12
    assert np.all(table[valid] >= ((s + 1) / (s + f + 2))[valid] - 1e-6)
    assert np.all(np.diff(table[:6, :6], axis=0) > 0)  # a success raises it
    assert np.all(np.diff(table[:6, :6], axis=1) < 0)  # a failure lowers it
    assert bandit.gittins_table(0.99, 4)[0, 0] > table[0, 0]  # longer horizon
    with pytest.raises(ValueError, match="discount"):
        bandit.gittins_table(1.0, 4)


BANDIT_AGENTS = (
    bandit.RandomArm(ARMS),
    bandit.EpsilonGreedy(ARMS),
    bandit.EpsilonGreedy(ARMS),
    bandit.UCB1(ARMS),
    bandit.Thompson(ARMS),
    bandit.Gittins(ARMS),
)


def _bandit_totals(tasks):
    params = (0.0, 0.0, 0.1, 0.2, 0.0, jnp.asarray(bandit.gittins_table(0.9, PULLS)))
    keys = jax.random.split(jax.random.key(3), TASKS)
    out = _trials(BANDIT_AGENTS, BernoulliBandit(ARMS), PULLS, params, tasks, keys)
    return [np.asarray(total) for total, _ in out]


def test_bandit_agents_find_a_certain_best_arm_and_beat_random():
    certain = jnp.broadcast_to(jnp.asarray([0.0, 0.0, 1.0, 0.0]), (TASKS, ARMS))
    ones = jnp.ones(TASKS, jnp.int32)
    tasks = BernoulliBanditParams(probs=certain, max_steps_in_episode=ones)
    random_arm, greedy, epsilon, ucb1, thompson, gittins = _bandit_totals(tasks)
    assert abs(random_arm.mean() - PULLS / ARMS) < 1.0
    for total in (greedy, ucb1, gittins):  # at most 3 failures, then stay
        assert total.min() >= PULLS - 3
    for total in (epsilon, thompson):  # they keep exploring a little
        assert total.mean() > PULLS - 6
    keys = jax.random.split(jax.random.key(4), TASKS)
    uniform = jax.vmap(BernoulliBanditTasks(ARMS).sample)(keys)
    random_arm, *learners = _bandit_totals(uniform)
    assert abs(random_arm.mean() - PULLS / 2) < 1.0
    for total in learners:  # the same tasks and reward noise for every agent
        assert total.mean() > random_arm.mean() + 1.5


def test_value_iteration_plans_the_best_finite_horizon_policy():
    # State 0 pays 1 for staying (action 0); action 1 moves to state 1, which
    # pays 3 per step: worth it with 3 steps left, not with 1.
    reward = jnp.asarray([[1.0, 0.0], [3.0, 3.0]])
    transition = jnp.asarray(
        [[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.0, 1.0]]], jnp.float32
    )
    policy = mdp.plan(jax.random.key(0), reward, transition, 3)
    assert policy.shape == (3, 2)
    np.testing.assert_array_equal(policy[:, 0], [1, 1, 0])


PRIOR = RandomMDPTasks(num_states=3, num_actions=2, horizon=3)
MDP_AGENTS = (
    mdp.RandomAction(PRIOR),
    mdp.PosteriorMeanGreedy(PRIOR),
    mdp.QLearning(PRIOR),
    mdp.PSRL(PRIOR),
)


def _optimal_return(task):
    """Expected return of one episode from state 0 under the true MDP."""

    def backward(value, _):
        q = task.reward_mean + task.transition @ value
        return jnp.max(q, -1), None

    value, _ = jax.lax.scan(backward, jnp.zeros(3), None, length=PRIOR.horizon)
    return value[0]


def test_mdp_agents_improve_over_the_episodes_of_a_trial():
    keys = jax.random.split(jax.random.key(5), TASKS)
    tasks = jax.vmap(PRIOR.sample)(keys)
    params = (0.0, 0.0, {"alpha": 0.5, "epsilon": 0.1}, 0.0)
    env = RandomMDP(num_states=3, num_actions=2, horizon=3)
    out = _trials(MDP_AGENTS, env, 12, params, tasks, keys)
    per_episode = [np.asarray(episodes).mean(0) for _, episodes in out]
    optimal = float(jax.vmap(_optimal_return)(tasks).mean())
    random_action, greedy, q_learning, psrl = per_episode
    assert abs(random_action.mean() - PRIOR.horizon * PRIOR.mean_loc) < 0.5
    for learned in (greedy, q_learning, psrl):
        assert learned[-4:].mean() > learned[0] + 0.3
        assert learned[-4:].mean() > random_action.mean() + 0.5
    # PSRL's late episodes are close to the optimal policy of each task.
    assert psrl[-4:].mean() > optimal - 0.5
