"""The discrete stochastic decision process of Kulkarni et al. (2016, h-DQN,
Section 4.1, Figure 2).

A chain of states s1..s6 (indices 0..5 here). Every episode starts in s2.
Action 0 ("left") moves one state left, always; action 1 ("right") moves
one state right with probability `p_right` (the paper: 0.5), else one state
left. s1 is terminal: arriving there pays 1 if s6 was visited during the
episode, else 0.01 (the paper's 1/100); every other step pays 0.

Choices the paper leaves open, ours: a successful "right" in s6 stays in
s6 (the chain has no s7); episodes are truncated after
`max_steps_in_episode` steps (default 100, paying 0). Every policy reaches
s1 with probability 1 (a right fails half the time), so the limit binds
rarely.

The visited flag is part of the env state but not of the observation:
the reward depends on the history, which the observation (the current
state, as an index or one-hot) does not show. That is what makes the task
hard for a flat agent.

Optimal expected reward (no step limit): go right until s6 is reached,
then left. From s2, "right" is a fair random walk on s1..s6 until s1 or
s6 is hit, which reaches s6 first with probability 1/5 (gambler's ruin),
so the optimum is 0.2 * 1 + 0.8 * 0.01 = 0.208 (`optimal_expected_reward`
gives it under a step limit too). Always-right is as good without memory:
once s6 is visited the walk still ends in s1 and pays 1.
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces

OBS_MODES = ("index", "one_hot")
NUM_STATES = 6
START = 1  # s2
LEFT, RIGHT = 0, 1
REWARD_VISITED, REWARD_NOT_VISITED = 1.0, 0.01


@struct.dataclass
class ChainState(environment.EnvState):
    state: jax.Array  # [] int32, index 0..5 (s1..s6)
    visited: jax.Array  # [] bool, s6 was visited in this episode
    time: int


@struct.dataclass
class ChainParams(environment.EnvParams):
    p_right: float = 0.5
    max_steps_in_episode: int = 100


class StochasticChain(environment.Environment[ChainState, ChainParams]):
    """Observation: int32 [] state index ("index") or float32 [6] one-hot
    ("one_hot"); actions 0 (left), 1 (right)."""

    def __init__(self, obs_mode: str = "index"):
        super().__init__()
        if obs_mode not in OBS_MODES:
            raise ValueError(f"obs_mode must be one of {OBS_MODES}, got {obs_mode!r}")
        self.obs_mode = obs_mode
        self.num_states = NUM_STATES

    def __eq__(self, other):
        return type(other) is type(self) and other.obs_mode == self.obs_mode

    def __hash__(self):
        return hash((type(self).__name__, self.obs_mode))

    @property
    def default_params(self) -> ChainParams:
        return ChainParams()

    def step_env(self, key, state: ChainState, action, params: ChainParams):
        """One move; reward [] float32 (nonzero only on arriving in s1)."""
        success = jax.random.uniform(key) < params.p_right
        right = (jnp.asarray(action) == RIGHT) & success
        moved = jnp.where(right, state.state + 1, state.state - 1)
        new = jnp.clip(moved, 0, NUM_STATES - 1).astype(jnp.int32)
        visited = state.visited | (new == NUM_STATES - 1)
        terminated = new == 0
        reward = jnp.where(
            terminated,
            jnp.where(visited, REWARD_VISITED, REWARD_NOT_VISITED),
            0.0,
        ).astype(jnp.float32)
        new_state = ChainState(state=new, visited=visited, time=state.time + 1)
        return self.get_obs(new_state), new_state, reward, terminated, {}

    def reset_env(self, key, params: ChainParams):
        state = ChainState(
            state=jnp.asarray(START, jnp.int32), visited=jnp.asarray(False), time=0
        )
        return self.get_obs(state), state

    def get_obs(self, state: ChainState, params=None, key=None):
        """See the class docstring for the shapes per `obs_mode`."""
        if self.obs_mode == "one_hot":
            return jax.nn.one_hot(state.state, NUM_STATES, dtype=jnp.float32)
        return state.state

    def is_terminated(self, state: ChainState, params: ChainParams):
        return state.state == 0

    @property
    def name(self) -> str:
        return "StochasticChain-v0"

    @property
    def num_actions(self) -> int:
        return 2

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(2)

    def observation_space(self, params=None):
        if self.obs_mode == "one_hot":
            return spaces.Box(0.0, 1.0, (NUM_STATES,), jnp.float32)
        return spaces.Discrete(NUM_STATES)

    def state_space(self, params=None) -> spaces.Dict:
        return spaces.Dict(
            {
                "state": spaces.Discrete(NUM_STATES),
                "visited": spaces.Discrete(2),
                "time": spaces.Discrete(params.max_steps_in_episode),
            }
        )


def optimal_expected_reward(p_right: float = 0.5, max_steps: int | None = 100):
    """The optimal expected episode reward from s2, by backward induction
    over (state, visited, steps left) with the flag observed (an upper bound
    for every policy, which sees only the state). `max_steps=None`: no step
    limit (value iteration to convergence). Returns a float."""
    horizon = 5000 if max_steps is None else max_steps
    states = np.arange(1, NUM_STATES)
    lefts, rights = states - 1, np.minimum(states + 1, NUM_STATES - 1)
    # value[visited, state] with k steps to go (0 when none are left).
    value = np.zeros((2, NUM_STATES))
    for _ in range(horizon):
        new = np.zeros_like(value)
        for visited in (0, 1):
            ahead = _ahead(value, visited)  # [NUM_STATES]: value of arriving
            right = p_right * ahead[rights] + (1 - p_right) * ahead[lefts]
            new[visited, 1:] = np.maximum(ahead[lefts], right)
        if max_steps is None and np.max(np.abs(new - value)) < 1e-14:
            break
        value = new
    return float(value[0, START])


def _ahead(value, visited: int):
    """[NUM_STATES]: the value of arriving in each state with the flag
    `visited` (s1 pays and ends; arriving in s6 sets the flag)."""
    ahead = value[visited].copy()
    ahead[NUM_STATES - 1] = value[1, NUM_STATES - 1]
    ahead[0] = REWARD_VISITED if visited else REWARD_NOT_VISITED
    return ahead


def make_stochastic_chain(
    obs_mode: str = "index", p_right: float = 0.5, max_steps_in_episode: int = 100
):
    """Registry factory for "StochasticChain-v0": `(StochasticChain,
    ChainParams)`. Raises ValueError naming a bad option."""
    if isinstance(p_right, bool) or not isinstance(p_right, int | float):
        raise ValueError(f"p_right must be a number in [0, 1], got {p_right!r}")
    if not 0.0 <= p_right <= 1.0:
        raise ValueError(f"p_right must be in [0, 1], got {p_right}")
    if (
        isinstance(max_steps_in_episode, bool)
        or not isinstance(max_steps_in_episode, int)
        or max_steps_in_episode < 1
    ):
        raise ValueError(
            f"max_steps_in_episode must be a positive int, got {max_steps_in_episode!r}"
        )
    env = StochasticChain(obs_mode)
    return env, ChainParams(
        p_right=float(p_right), max_steps_in_episode=max_steps_in_episode
    )
