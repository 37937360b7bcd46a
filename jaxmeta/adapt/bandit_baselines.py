"""The Bernoulli-bandit baselines of Duan et al. (2016), Table 1, as trial
agents (`learners/common/trials.py`) on `BernoulliBandit`.

Every agent keeps per-arm counts of successes ``s`` and failures ``f``
(floats ``[num_arms]``) and breaks ties uniformly at random:

- random: a uniform arm every pull;
- greedy / epsilon-greedy: the best posterior mean ``(s + 1) / (s + f + 2)``
  (the paper's initialisation with one success and one failure, a Beta(1, 1)
  prior), a uniform arm with probability ``epsilon`` (agent_params: []);
- UCB1: ``(s + 1) / T + c * sqrt(2 log t / T)``, ``T = s + f + 2`` the
  pseudo-counted pulls of the arm and ``t`` the pull being chosen (1, 2, ...)
  (agent_params: ``c`` []);
- Thompson sampling: the best of one draw from each arm's ``Beta(1 + s,
  1 + f)`` posterior;
- Gittins index: the arm of highest index in a table ``[n + 1, n + 1]`` of
  Bernoulli Gittins indices for a discount (`gittins_table`; agent_params:
  the table). The paper's setting is a finite, undiscounted horizon, for
  which no index policy is optimal; as the paper picks the best-performing
  approximation per setting, the experiment picks the best discount per
  setting on tuning tasks.
"""

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxmeta.envs.bandits import check_num_arms


def argmax_random(key, values):
    """Index of a maximum of `values: [k]`, ties broken uniformly at random."""
    best = values >= jnp.max(values)
    return jnp.argmax(jnp.where(best, jax.random.uniform(key, values.shape), -1.0))


@dataclasses.dataclass(frozen=True)
class CountingAgent:
    """Shared state and update: successes and failures per arm, pulls so far.
    A subclass chooses the arm (`choose(key, successes, failures, pulls,
    agent_params) -> action`)."""

    num_arms: int

    def __post_init__(self):
        check_num_arms(self.num_arms)

    def init(self, key, agent_params):
        zeros = jnp.zeros(self.num_arms, jnp.float32)
        return zeros, zeros, jnp.float32(0.0)

    def begin_episode(self, key, agent_state, agent_params):
        return agent_state

    def act(self, key, agent_state, agent_params, obs, t):
        return self.choose(key, *agent_state, agent_params), agent_state

    def observe(self, key, agent_state, agent_params, obs, action, reward, *_):
        successes, failures, pulls = agent_state
        chosen = jax.nn.one_hot(action, self.num_arms, dtype=jnp.float32)
        return (
            successes + chosen * reward,
            failures + chosen * (1.0 - reward),
            pulls + 1,
        )

    def choose(self, key, successes, failures, pulls, agent_params):
        raise NotImplementedError


class RandomArm(CountingAgent):
    def choose(self, key, successes, failures, pulls, agent_params):
        return jax.random.randint(key, (), 0, self.num_arms)


class EpsilonGreedy(CountingAgent):
    """agent_params: epsilon [] (0: greedy)."""

    def choose(self, key, successes, failures, pulls, agent_params):
        key_explore, key_arm, key_tie = jax.random.split(key, 3)
        mean = (successes + 1.0) / (successes + failures + 2.0)
        explore = jax.random.uniform(key_explore) < agent_params
        random_arm = jax.random.randint(key_arm, (), 0, self.num_arms)
        return jnp.where(explore, random_arm, argmax_random(key_tie, mean))


class UCB1(CountingAgent):
    """agent_params: the exploration scale c []."""

    def choose(self, key, successes, failures, pulls, agent_params):
        count = successes + failures + 2.0
        bonus = agent_params * jnp.sqrt(2.0 * jnp.log(pulls + 1.0) / count)
        return argmax_random(key, (successes + 1.0) / count + bonus)


class Thompson(CountingAgent):
    def choose(self, key, successes, failures, pulls, agent_params):
        key_draw, key_tie = jax.random.split(key)
        draw = jax.random.beta(key_draw, 1.0 + successes, 1.0 + failures)
        return argmax_random(key_tie, draw)


class Gittins(CountingAgent):
    """agent_params: a `gittins_table` [n + 1, n + 1] (index of (s, f))."""

    def choose(self, key, successes, failures, pulls, agent_params):
        limit = agent_params.shape[0] - 1
        s = jnp.clip(successes.astype(jnp.int32), 0, limit)
        f = jnp.clip(failures.astype(jnp.int32), 0, limit)
        return argmax_random(key, agent_params[s, f])


def _root(diff, grid):
    """Per row of diff [m, G] (decreasing along G), the grid value where it
    crosses 0, linearly interpolated between grid points."""
    j = np.clip(np.argmax(diff <= 0.0, axis=1), 1, grid.size - 1)
    rows = np.arange(diff.shape[0])
    high, low = diff[rows, j - 1], diff[rows, j]
    weight = np.where(high > low, high / np.maximum(high - low, 1e-300), 0.0)
    return grid[j - 1] + weight * (grid[j] - grid[j - 1])


@functools.lru_cache(maxsize=32)
def gittins_table(
    discount: float, max_pulls: int, grid_size: int = 512, tolerance: float = 1e-4
) -> np.ndarray:
    """Bernoulli Gittins indices under a uniform Beta(1, 1) prior, by
    calibration (Whittle's retirement option) and backward induction.

    For each retirement reward lambda per step on a grid of `grid_size`
    points in [0, 1], V(s, f) = max(lambda / (1 - discount), p (1 +
    discount V(s + 1, f)) + (1 - p) discount V(s, f + 1)), p = (s + 1) /
    (s + f + 2), is computed for every state with s + f <= D by one backward
    induction vectorised over the grid and the states of a depth; beyond D
    (= max_pulls plus the pulls until discount^pulls < tolerance, at most
    1500 more) the posterior mean is taken as known, V = max(lambda, p) / (1
    - discount). A state's index is the lambda at which continuing and
    retiring are worth the same: the root of their (piecewise-linear,
    decreasing) difference, interpolated between grid points.

    Returns float32 [max_pulls + 1, max_pulls + 1]: entry (s, f) the index
    after s successes and f failures (s + f <= max_pulls; 0 elsewhere).
    Raises ValueError for a discount outside (0, 1) or max_pulls < 0.
    """
    if not 0.0 < float(discount) < 1.0:
        raise ValueError(f"discount must lie in (0, 1), got {discount!r}")
    if isinstance(max_pulls, bool) or not isinstance(max_pulls, int) or max_pulls < 0:
        raise ValueError(f"max_pulls must be an int >= 0, got {max_pulls!r}")
    gamma = float(discount)
    extra = min(math.ceil(math.log(tolerance) / math.log(gamma)), 1500)
    depth = max_pulls + extra
    grid = np.linspace(0.0, 1.0, grid_size)
    retire = grid / (1.0 - gamma)
    p = (np.arange(depth + 1) + 1.0) / (depth + 2.0)
    value = np.maximum(grid[None, :], p[:, None]) / (1.0 - gamma)
    table = np.zeros((max_pulls + 1, max_pulls + 1), np.float32)
    for d in range(depth - 1, -1, -1):
        p = (np.arange(d + 1) + 1.0)[:, None] / (d + 2.0)
        cont = p * (1.0 + gamma * value[1:]) + (1.0 - p) * gamma * value[:-1]
        if d <= max_pulls:
            s = np.arange(d + 1)
            table[s, d - s] = _root(cont - retire[None, :], grid)
        value = np.maximum(cont, retire[None, :])
    return table


BANDIT_AGENTS = {
    "random": RandomArm,
    "greedy": EpsilonGreedy,
    "epsilon-greedy": EpsilonGreedy,
    "ucb1": UCB1,
    "thompson": Thompson,
    "gittins": Gittins,
}
