import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.models.extra_trees import ExtraTrees
from jaxmeta.models.fqi import FittedQIteration, Transitions, greedy_action, q_values

# Both MDPs below give 3000 one-dimensional transitions and 3 actions, so they share
# one compiled FQI. H = 15; n_min = 1% of the data (30) averages the noisy targets
# of the point problem and still separates every tabular cell (200 samples each).
NUM_SAMPLES, HORIZON = 3000, 15
FQI = FittedQIteration(
    horizon=HORIZON,
    regressor=ExtraTrees(
        num_trees=10, min_samples_split=0.01, max_depth=20, trees_per_batch=10
    ),
)
fit_fqi = jax.jit(FQI.fit)


def _float32(transitions):
    # Same dtypes in both tests, so the compiled FQI is reused.
    return Transitions(*(np.asarray(field, np.float32) for field in transitions))


def test_invalid_config_names_the_field():
    with pytest.raises(ValueError, match="horizon"):
        FittedQIteration(horizon=0)
    with pytest.raises(ValueError, match="regressor"):
        FittedQIteration(regressor=object())


# A small stochastic tabular MDP: 5 states, 3 actions, reward in [0, 1.5].
NUM_STATES, NUM_ACTIONS, TABULAR_DISCOUNT = 5, 3, 0.8
PER_CELL = NUM_SAMPLES // (NUM_STATES * NUM_ACTIONS)


def _tabular_mdp():
    rng = np.random.default_rng(0)
    transition = rng.dirichlet(np.ones(NUM_STATES), (NUM_STATES, NUM_ACTIONS))
    states, actions = np.arange(NUM_STATES)[:, None], np.arange(NUM_ACTIONS)[None]
    reward = rng.uniform(0, 0.5, (NUM_STATES, NUM_ACTIONS))
    reward = reward + (actions == states % NUM_ACTIONS)
    return transition, reward


def _value_iteration(transition, reward, discount, horizon):
    """H Bellman backups from Q_0 = 0; returns Q_H and the span of each V_k."""
    q, spans = np.zeros_like(reward), []
    for _ in range(horizon):
        value = q.max(1)
        spans.append(value.max() - value.min())
        q = reward + discount * transition @ value
    return q, spans


def test_fqi_on_a_tabular_mdp_matches_value_iteration():
    transition, reward = _tabular_mdp()
    rng = np.random.default_rng(1)
    state = np.repeat(np.arange(NUM_STATES), NUM_ACTIONS * PER_CELL)
    action = np.tile(np.repeat(np.arange(NUM_ACTIONS), PER_CELL), NUM_STATES)
    cumulative = np.cumsum(transition[state, action], axis=1)
    next_state = np.sum(rng.random(NUM_SAMPLES)[:, None] > cumulative, axis=1)
    next_state = np.minimum(next_state, NUM_STATES - 1)
    data = _float32(
        Transitions(
            obs=state[:, None],
            action=action[:, None],
            reward=reward[state, action],
            next_obs=next_state[:, None],
            done=np.zeros(NUM_SAMPLES),
        )
    )
    grid = np.arange(NUM_ACTIONS, dtype=np.float32)[:, None]
    q = fit_fqi(jax.random.key(0), data, grid, TABULAR_DISCOUNT)
    fitted = np.asarray(q_values(q, np.arange(NUM_STATES)[:, None]))

    # Every (s, a) cell has one input value, so pure trees end with one leaf per
    # cell holding the mean target: FQI is exact value iteration on the empirical
    # MDP, up to float32 rounding.
    counts = np.zeros((NUM_STATES, NUM_ACTIONS, NUM_STATES))
    np.add.at(counts, (state, action, next_state), 1.0)
    empirical = counts / PER_CELL
    q_empirical, _ = _value_iteration(empirical, reward, TABULAR_DISCOUNT, HORIZON)
    np.testing.assert_allclose(fitted, q_empirical, atol=1e-4)

    # Against the true MDP the error is sampling noise. With e_k = max |Q^_k - Q_k|,
    # e_1 = 0 (rewards are exact) and
    #   e_{k+1} <= gamma e_k + gamma |(P^ - P) V_k|,
    # where V_k does not depend on the data, so by Hoeffding (V_k(s') has range
    # span(V_k)) and a union bound over S A H events, with probability 1 - delta
    #   |(P^ - P) V_k| <= span(V_k) sqrt(ln(2 S A H / delta) / (2 N)).
    q_true, spans = _value_iteration(transition, reward, TABULAR_DISCOUNT, HORIZON)
    delta = 1e-3
    scale = np.sqrt(
        np.log(2 * NUM_STATES * NUM_ACTIONS * HORIZON / delta) / (2 * PER_CELL)
    )
    bound = 0.0
    for span in spans:
        bound = TABULAR_DISCOUNT * (bound + span * scale)
    assert np.max(np.abs(fitted - q_true)) <= bound
    # The greedy policy is then forced wherever the action gap exceeds 2 * bound.
    ordered = np.sort(q_true, axis=1)
    assert np.min(ordered[:, -1] - ordered[:, -2]) > 2 * bound
    np.testing.assert_array_equal(
        np.asarray(greedy_action(q, np.arange(NUM_STATES)[:, None]))[:, 0],
        np.argmax(q_true, axis=1),
    )


# A noisy point on [-1, 1]: x' = clip(x + a + noise), a in {-0.2, 0, 0.2}, noise
# uniform on {-0.05, 0, 0.05}; entering [0.5, 0.7] pays 1 and ends the episode.
STEPS, NOISE, TARGET, POINT_DISCOUNT = np.array([-0.2, 0.0, 0.2]), 0.05, (0.5, 0.7), 0.9
GRID_SPACING = 0.01  # every step and noise value is a multiple: VI on it is exact


def _point_step(x, step, noise):
    next_x = np.clip(x + step + noise, -1.0, 1.0)
    reached = (next_x >= TARGET[0] - 1e-9) & (next_x <= TARGET[1] + 1e-9)
    return next_x, reached.astype(np.float64)


def _point_transitions_on_grid():
    """Per grid point and action, the three equally likely (next index, reward)."""
    grid = np.round(np.arange(-1.0, 1.0 + 1e-9, GRID_SPACING), 10)
    outcomes = []
    for step in STEPS:
        per_noise = []
        for noise in (-NOISE, 0.0, NOISE):
            next_x, reached = _point_step(grid, step, noise)
            index = np.round((next_x + 1.0) / GRID_SPACING).astype(int)
            per_noise.append((index, reached))
        outcomes.append(per_noise)
    return grid, outcomes


def _evaluate(outcomes, choose, iterations=400):
    """Iterates V(x) = mean over noise of r + gamma (1 - r) V(x') with the action
    choose(q) at each grid point; choose=None takes the max (value iteration)."""
    value = np.zeros(len(outcomes[0][0][0]))
    for _ in range(iterations):
        q = np.stack(
            [
                np.mean(
                    [r + POINT_DISCOUNT * (1 - r) * value[i] for i, r in per_noise], 0
                )
                for per_noise in outcomes
            ],
            1,
        )
        value = q.max(1) if choose is None else q[np.arange(len(value)), choose]
    return value


def test_fqi_on_a_noisy_point_is_near_optimal():
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, NUM_SAMPLES)
    action = rng.integers(0, 3, NUM_SAMPLES)
    noise = NOISE * rng.integers(-1, 2, NUM_SAMPLES)
    next_x, reward = _point_step(x, STEPS[action], noise)
    data = _float32(
        Transitions(
            obs=x[:, None],
            action=STEPS[action][:, None],
            reward=reward,
            next_obs=next_x[:, None],
            done=reward,
        )
    )
    grid_actions = STEPS[:, None].astype(np.float32)
    q = fit_fqi(jax.random.key(3), data, grid_actions, POINT_DISCOUNT)

    grid, outcomes = _point_transitions_on_grid()
    optimal = _evaluate(outcomes, None)
    chosen = np.asarray(greedy_action(q, jnp.asarray(grid[:, None])))[:, 0]
    policy = _evaluate(outcomes, np.argmin(np.abs(chosen[:, None] - STEPS), 1))
    outside = (grid < TARGET[0]) | (grid > TARGET[1])
    regret = (optimal - policy)[outside]
    # One wasted step costs (1 - gamma) = 10% of the value. Waiting or moving
    # differ by about that much near the target, where the fitted Q is noisiest, so
    # the FQI policy may waste at most one step from any start and must lose under
    # 1% of the optimal value on average (always moving right loses 26%).
    assert np.all(regret <= (1 - POINT_DISCOUNT) * optimal[outside] + 1e-6), regret
    assert np.mean(regret) <= 0.01 * np.mean(optimal[outside])
