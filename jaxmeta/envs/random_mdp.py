"""Random tabular MDPs (Duan et al., 2016, Section 3.2).

`RandomMDP(num_states, num_actions, horizon)`: every episode starts in state
0 and ends (terminates) after `horizon` steps, as a finite-horizon MDP does.
Taking action a in state s pays ``reward_mean[s, a] + reward_std * N(0, 1)``
and moves to ``s' ~ transition[s, a]``. The observation is the one-hot state
``[num_states]``; the time step is not observed (a recurrent agent counts it).

`RandomMDPTasks`: ``reward_mean[s, a] ~ N(mean_loc, mean_scale^2)`` and
``transition[s, a] ~ Dirichlet(concentration * 1)``, independently (the paper:
10 states, 5 actions, N(1, 1) means, unit reward noise, flat Dirichlet,
horizon 10). Its fields are also the prior the Bayesian baselines use.
"""

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces


def check_positive_ints(**fields):
    """Raise ValueError naming the first field that is not an int >= 1."""
    for name, value in fields.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")


@struct.dataclass
class RandomMDPState(environment.EnvState):
    state: jax.Array  # [] int32, the current MDP state
    time: int


@struct.dataclass
class RandomMDPParams(environment.EnvParams):
    # [num_states, num_actions]; the defaults are those of a 10 x 5 MDP.
    reward_mean: jax.Array = struct.field(default_factory=lambda: jnp.ones((10, 5)))
    # [num_states, num_actions, num_states], each row a distribution
    transition: jax.Array = struct.field(
        default_factory=lambda: jnp.full((10, 5, 10), 0.1)
    )
    reward_std: float = 1.0
    max_steps_in_episode: int = 10


class RandomMDP(environment.Environment[RandomMDPState, RandomMDPParams]):
    """Observation ``[num_states]`` (one-hot), action in ``range(num_actions)``."""

    def __init__(self, num_states: int = 10, num_actions: int = 5, horizon: int = 10):
        super().__init__()
        check_positive_ints(
            num_states=num_states, num_actions=num_actions, horizon=horizon
        )
        self.num_states, self.horizon = num_states, horizon
        self._num_actions = num_actions

    def _key(self):
        return (type(self).__name__, self.num_states, self._num_actions, self.horizon)

    def __eq__(self, other):
        return type(other) is type(self) and other._key() == self._key()

    def __hash__(self):
        return hash(self._key())

    @property
    def default_params(self) -> RandomMDPParams:
        """Unit mean rewards and uniform transitions."""
        shape = (self.num_states, self._num_actions)
        return RandomMDPParams(
            reward_mean=jnp.ones(shape, jnp.float32),
            transition=jnp.full(shape + (self.num_states,), 1.0 / self.num_states),
            max_steps_in_episode=self.horizon,
        )

    def step_env(self, key, state, action, params):
        """One step; returns obs ``[num_states]`` and reward ``[]``."""
        key_reward, key_next = jax.random.split(key)
        # One-hot contractions, not gathers: cheaper under vmap on CPU.
        one_s = jax.nn.one_hot(state.state, self.num_states, dtype=jnp.float32)
        one_a = jax.nn.one_hot(action, self._num_actions, dtype=jnp.float32)
        mean = one_s @ params.reward_mean @ one_a
        probs = jnp.einsum("s,a,sat->t", one_s, one_a, params.transition)
        next_state = jax.random.categorical(key_next, jnp.log(probs))
        reward = mean + params.reward_std * jax.random.normal(key_reward)
        new_state = RandomMDPState(state=next_state, time=state.time + 1)
        terminated = new_state.time >= self.horizon
        return self.get_obs(new_state), new_state, reward, terminated, {}

    def reset_env(self, key, params):
        state = RandomMDPState(state=jnp.zeros((), jnp.int32), time=0)
        return self.get_obs(state), state

    def get_obs(self, state, params=None, key=None):
        return jax.nn.one_hot(state.state, self.num_states, dtype=jnp.float32)

    def is_terminated(self, state, params):
        return state.time >= self.horizon

    @property
    def name(self) -> str:
        return "RandomMDP-v0"

    @property
    def num_actions(self) -> int:
        return self._num_actions

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(self._num_actions)

    def observation_space(self, params=None) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (self.num_states,), jnp.float32)


@dataclass(frozen=True)
class RandomMDPTasks:
    """Random MDPs of `num_states` x `num_actions`; see the module docstring."""

    num_states: int = 10
    num_actions: int = 5
    mean_loc: float = 1.0
    mean_scale: float = 1.0
    reward_std: float = 1.0
    concentration: float = 1.0
    horizon: int = 10

    def __post_init__(self):
        check_positive_ints(
            num_states=self.num_states,
            num_actions=self.num_actions,
            horizon=self.horizon,
        )
        for name in ("mean_scale", "reward_std", "concentration"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (
                isinstance(value, int | float) and value > 0
            ):
                raise ValueError(f"{name} must be a number > 0, got {value!r}")
        if isinstance(self.mean_loc, bool) or not isinstance(
            self.mean_loc, int | float
        ):
            raise ValueError(f"mean_loc must be a number, got {self.mean_loc!r}")

    def sample(self, key) -> RandomMDPParams:
        """One task: reward means ``[S, A]`` and transitions ``[S, A, S]``."""
        shape = (self.num_states, self.num_actions)
        size = self.num_states * self.num_actions
        # One uniform draw transformed (inverse normal CDF; exponentials
        # normalised = a flat Dirichlet): gymnax draws a reset task at every
        # step, and separate normal / gamma samplers cost 3x more under vmap.
        tiny = float(jnp.finfo(jnp.float32).tiny)
        u = jax.random.uniform(key, (size * (self.num_states + 1),), minval=tiny)
        normal = jax.scipy.special.ndtri(u[:size]).reshape(shape)
        mean = self.mean_loc + self.mean_scale * normal
        if self.concentration == 1.0:
            draws = -jnp.log(u[size:]).reshape(shape + (self.num_states,))
            transition = draws / jnp.sum(draws, -1, keepdims=True)
        else:
            alpha = jnp.full(self.num_states, self.concentration, jnp.float32)
            transition = jax.random.dirichlet(jax.random.fold_in(key, 1), alpha, shape)
        return RandomMDPParams(
            reward_mean=mean.astype(jnp.float32),
            transition=transition.astype(jnp.float32),
            reward_std=jnp.float32(self.reward_std),
            max_steps_in_episode=self.horizon,
        )


def make_random_mdp(num_states: int = 10, num_actions: int = 5, horizon: int = 10):
    """Registry factory: ``(RandomMDP(...), its default params)``."""
    env = RandomMDP(num_states, num_actions, horizon)
    return env, env.default_params
