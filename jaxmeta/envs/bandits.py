"""Bernoulli multi-armed bandits (Duan et al., 2016, Section 3.1).

`BernoulliBandit(num_arms)`: an "episode" is one pull. Action ``a`` in
``{0, ..., num_arms - 1}`` pays 1 with probability ``probs[a]`` (else 0) and
terminates the episode, so a trial of `RL2Trials` with ``episodes_per_trial =
n`` is n pulls of the same arms. The bandit is stateless: its observation is
the constant ``[0.0]``. The reward is ``uniform(key) < probs[a]``, one uniform
per step whichever arm is pulled, so methods stepped with the same keys share
their reward noise (common random numbers between RL^2 and the baselines).

`BernoulliBanditTasks(num_arms, probs=(low, high))`: every arm's
``probs[a] ~ U[low, high]`` independently (the paper: ``U[0, 1]``).
"""

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from jaxmeta.envs.tasks import check_range
from jaxmeta.validation import Domain

PROBABILITY = Domain(minimum=0.0, maximum=1.0)


def check_num_arms(num_arms) -> int:
    """num_arms must be an int >= 2; ValueError naming the field otherwise."""
    if isinstance(num_arms, bool) or not isinstance(num_arms, int) or num_arms < 2:
        raise ValueError(f"num_arms must be an int >= 2, got {num_arms!r}")
    return num_arms


@struct.dataclass
class BanditState(environment.EnvState):
    time: int


@struct.dataclass
class BernoulliBanditParams(environment.EnvParams):
    probs: jax.Array = struct.field(  # [num_arms] success probability per arm
        default_factory=lambda: jnp.linspace(0.1, 0.9, 5)
    )
    max_steps_in_episode: int = 1


class BernoulliBandit(environment.Environment[BanditState, BernoulliBanditParams]):
    """Observation ``[1]`` (always 0), action: the arm to pull."""

    def __init__(self, num_arms: int = 5):
        super().__init__()
        self.num_arms = check_num_arms(num_arms)

    def __eq__(self, other):
        return type(other) is type(self) and other.num_arms == self.num_arms

    def __hash__(self):
        return hash((type(self).__name__, self.num_arms))

    @property
    def default_params(self) -> BernoulliBanditParams:
        """Arms evenly spaced in ``[0.1, 0.9]``."""
        return BernoulliBanditParams(probs=jnp.linspace(0.1, 0.9, self.num_arms))

    def step_env(self, key, state, action, params):
        """Pull arm `action`: reward ``[]`` in {0, 1}; the episode terminates."""
        # A one-hot contraction, not a gather: cheaper under vmap on CPU.
        chosen = jax.nn.one_hot(action, self.num_arms, dtype=jnp.float32)
        prob = jnp.sum(chosen * params.probs)
        reward = (jax.random.uniform(key) < prob).astype(jnp.float32)
        new_state = BanditState(time=state.time + 1)
        return self.get_obs(new_state), new_state, reward, jnp.array(True), {}

    def reset_env(self, key, params):
        state = BanditState(time=0)
        return self.get_obs(state), state

    def get_obs(self, state, params=None, key=None):
        return jnp.zeros(1, jnp.float32)

    def is_terminated(self, state, params):
        return state.time >= 1

    @property
    def name(self) -> str:
        return "BernoulliBandit-v0"

    @property
    def num_actions(self) -> int:
        return self.num_arms

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(self.num_arms)

    def observation_space(self, params=None) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (1,), jnp.float32)


@dataclass(frozen=True)
class BernoulliBanditTasks:
    """Bandit tasks: ``probs ~ U[probs[0], probs[1]]^num_arms``."""

    num_arms: int = 5
    probs: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self):
        check_num_arms(self.num_arms)
        object.__setattr__(self, "probs", check_range("probs", self.probs, PROBABILITY))

    def sample(self, key) -> BernoulliBanditParams:
        """One task: `BernoulliBanditParams` with probs ``[num_arms]``."""
        low, high = self.probs
        probs = jax.random.uniform(key, (self.num_arms,), jnp.float32, low, high)
        return BernoulliBanditParams(probs=probs)


def make_bernoulli_bandit(num_arms: int = 5, probs=None):
    """Registry factory: ``(BernoulliBandit(num_arms), params)``, params the
    default arms or the given ``probs`` (``num_arms`` values in [0, 1])."""
    env = BernoulliBandit(num_arms)
    if probs is None:
        return env, env.default_params
    values = jnp.asarray(probs, jnp.float32)
    if values.shape != (num_arms,) or not bool(jnp.all((values >= 0) & (values <= 1))):
        raise ValueError(
            f"probs must be {num_arms} probabilities in [0, 1], got {probs!r}"
        )
    return env, BernoulliBanditParams(probs=values)
