"""Random-MDP baselines (Duan et al., 2016, Table 2) as trial agents
(`learners/common/trials.py`) on `RandomMDP`.

The model-based agents keep the posterior of the task distribution they are
given (`prior`, a `RandomMDPTasks`: "we provide these methods with the true
distribution"): transitions ``Dirichlet(concentration + counts)`` per (s, a)
and reward means Normal with the known noise ``reward_std`` (prior ``N(
mean_loc, mean_scale^2)``). At the start of every episode they plan by
finite-horizon value iteration over the episode's `horizon` steps:

- PSRL (Strens 2000; Osband et al. 2013): on one MDP drawn from the
  posterior;
- greedy / epsilon-greedy (the paper's: optimal against the current estimate,
  updated once per episode): on the posterior-mean MDP, with a uniform action
  with probability ``epsilon`` (agent_params: []);
- random: a uniform action every step;
- Q-learning (not in the paper; model-free): tabular ``Q[t, s, a]`` for the
  step t of the episode, initialised to the prior's expected reward to go
  ``(horizon - t) * mean_loc``, epsilon-greedy, one TD(0) update per step
  (agent_params: ``{"alpha": [], "epsilon": []}``).
Ties between actions are broken uniformly at random.
"""

import dataclasses

import jax
import jax.numpy as jnp

from jaxmeta.envs.random_mdp import RandomMDPTasks


def _argmax_random(key, q):
    """Per row of q [..., A], a maximising action, ties broken at random."""
    best = q >= jnp.max(q, axis=-1, keepdims=True)
    return jnp.argmax(jnp.where(best, jax.random.uniform(key, q.shape), -1.0), -1)


def plan(key, reward, transition, horizon: int):
    """Finite-horizon value iteration. reward: [S, A]; transition: [S, A, S].
    Returns the policy [horizon, S] (int32): the action at step t in state s
    maximising the expected reward over the remaining horizon - t steps."""

    def backward(value_next, key):
        q = reward + transition @ value_next
        return jnp.max(q, -1), _argmax_random(key, q).astype(jnp.int32)

    _, policy = jax.lax.scan(
        backward,
        jnp.zeros(reward.shape[0], reward.dtype),
        jax.random.split(key, horizon),
        reverse=True,
    )
    return policy


def _state(obs):
    return jnp.argmax(obs).astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class ModelAgent:
    """Counts of transitions [S, A, S], reward sums and visits [S, A], and the
    current episode's policy [horizon, S]. A subclass gives `model(key,
    counts, reward_sum, visits) -> (reward [S, A], transition [S, A, S])`."""

    prior: RandomMDPTasks = RandomMDPTasks()

    def _posterior(self, counts, reward_sum, visits):
        """Posterior Dirichlet parameters [S, A, S], reward mean and
        precision [S, A]."""
        p = self.prior
        alpha = p.concentration + counts
        precision = 1.0 / p.mean_scale**2 + visits / p.reward_std**2
        mean = (p.mean_loc / p.mean_scale**2 + reward_sum / p.reward_std**2) / precision
        return alpha, mean, precision

    def model(self, key, counts, reward_sum, visits):
        raise NotImplementedError

    def _replan(self, key, counts, reward_sum, visits):
        key_model, key_plan = jax.random.split(key)
        reward, transition = self.model(key_model, counts, reward_sum, visits)
        return plan(key_plan, reward, transition, self.prior.horizon)

    def init(self, key, agent_params):
        p = self.prior
        counts = jnp.zeros((p.num_states, p.num_actions, p.num_states), jnp.float32)
        reward_sum = jnp.zeros((p.num_states, p.num_actions), jnp.float32)
        visits = jnp.zeros_like(reward_sum)
        policy = jnp.zeros((p.horizon, p.num_states), jnp.int32)
        return counts, reward_sum, visits, policy

    def act(self, key, agent_state, agent_params, obs, t):
        key_explore, key_action = jax.random.split(key)
        planned = agent_state[3][t, _state(obs)]
        explore = jax.random.uniform(key_explore) < self.epsilon(agent_params)
        uniform = jax.random.randint(key_action, (), 0, self.prior.num_actions)
        return jnp.where(explore, uniform, planned), agent_state

    def epsilon(self, agent_params):
        return 0.0

    def observe(self, key, agent_state, agent_params, obs, action, reward, next_obs,
                done, t):  # fmt: skip
        counts, reward_sum, visits, policy = agent_state
        p = self.prior
        pair = jnp.outer(
            jax.nn.one_hot(_state(obs), p.num_states),
            jax.nn.one_hot(action, p.num_actions),
        )
        next_one_hot = jax.nn.one_hot(_state(next_obs), p.num_states)
        counts = counts + pair[:, :, None] * next_one_hot
        reward_sum = reward_sum + pair * reward
        visits = visits + pair
        return counts, reward_sum, visits, policy

    def begin_episode(self, key, agent_state, agent_params):
        counts, reward_sum, visits, _ = agent_state
        return counts, reward_sum, visits, self._replan(key, *agent_state[:3])


class PSRL(ModelAgent):
    """Plans on one MDP drawn from the posterior at every episode's start."""

    def model(self, key, counts, reward_sum, visits):
        key_next, key_reward = jax.random.split(key)
        alpha, mean, precision = self._posterior(counts, reward_sum, visits)
        transition = jax.random.dirichlet(key_next, alpha)
        noise = jax.random.normal(key_reward, mean.shape)
        return mean + noise / jnp.sqrt(precision), transition


class PosteriorMeanGreedy(ModelAgent):
    """Plans on the posterior-mean MDP; agent_params: epsilon [] (0: greedy)."""

    def model(self, key, counts, reward_sum, visits):
        alpha, mean, _ = self._posterior(counts, reward_sum, visits)
        return mean, alpha / jnp.sum(alpha, -1, keepdims=True)

    def epsilon(self, agent_params):
        return agent_params


@dataclasses.dataclass(frozen=True)
class RandomAction:
    """A uniform action every step."""

    prior: RandomMDPTasks = RandomMDPTasks()

    def init(self, key, agent_params):
        return jnp.zeros(())

    def begin_episode(self, key, agent_state, agent_params):
        return agent_state

    def act(self, key, agent_state, agent_params, obs, t):
        return jax.random.randint(key, (), 0, self.prior.num_actions), agent_state

    def observe(self, key, agent_state, *_):
        return agent_state


@dataclasses.dataclass(frozen=True)
class QLearning:
    """Tabular finite-horizon Q-learning; agent_params {"alpha", "epsilon"}."""

    prior: RandomMDPTasks = RandomMDPTasks()

    def init(self, key, agent_params):
        p = self.prior
        to_go = (p.horizon - jnp.arange(p.horizon + 1, dtype=jnp.float32)) * p.mean_loc
        shape = (p.horizon + 1, p.num_states, p.num_actions)
        return jnp.broadcast_to(to_go[:, None, None], shape)

    def begin_episode(self, key, q, agent_params):
        return q

    def act(self, key, q, agent_params, obs, t):
        key_explore, key_action, key_tie = jax.random.split(key, 3)
        greedy = _argmax_random(key_tie, q[t, _state(obs)])
        explore = jax.random.uniform(key_explore) < agent_params["epsilon"]
        uniform = jax.random.randint(key_action, (), 0, self.prior.num_actions)
        return jnp.where(explore, uniform, greedy), q

    def observe(self, key, q, agent_params, obs, action, reward, next_obs, done, t):
        bootstrap = jnp.where(done, 0.0, jnp.max(q[t + 1, _state(next_obs)]))
        error = reward + bootstrap - q[t, _state(obs), action]
        return q.at[t, _state(obs), action].add(agent_params["alpha"] * error)


MDP_AGENTS = {
    "random": RandomAction,
    "greedy": PosteriorMeanGreedy,
    "epsilon-greedy": PosteriorMeanGreedy,
    "q-learning": QLearning,
    "psrl": PSRL,
}
