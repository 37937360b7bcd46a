"""`SkillEnv`: an env whose episodes each carry a skill z ~ p(z), uniform over
`num_skills`, drawn at reset and fixed until the episode ends (DIAYN,
Eysenbach et al. 2018). The observation is the wrapped env's, flattened, with
the one-hot skill appended, so any learner that reads observations becomes
skill-conditioned; rewards, terminations and truncations are the wrapped
env's. Wraps envs that implement gymnax's `step_env`/`reset_env` and keep
gymnax's own `step` (auto-reset), as every env of ours except the fault
injectors does; `env_params` are the wrapped env's.
"""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces


@struct.dataclass
class SkillState:
    inner: Any  # the wrapped env's state
    skill: jax.Array  # [] int32


class SkillEnv(environment.Environment):
    """`env` with a skill per episode: obs `[obs_dim + num_skills]`."""

    def __init__(self, env, num_skills: int):
        if not isinstance(num_skills, int) or isinstance(num_skills, bool):
            raise ValueError(f"num_skills must be an integer, got {num_skills!r}")
        if num_skills < 2:
            raise ValueError(
                f"num_skills must be >= 2 (skills are told apart), got {num_skills}"
            )
        self.env, self.num_skills = env, num_skills
        shape = env.observation_space(env.default_params).shape
        self.obs_dim = int(np.prod(shape))

    def __eq__(self, other):
        return (
            type(other) is SkillEnv
            and other.env == self.env
            and other.num_skills == self.num_skills
        )

    def __hash__(self):
        return hash((SkillEnv, self.env, self.num_skills))

    @property
    def default_params(self):
        return self.env.default_params

    def with_skill(self, obs, skill):
        """`obs [..., *obs_shape]` (flattened per leading index) with
        one-hot `skill [...]` appended: `[..., obs_dim + num_skills]`."""
        lead = jnp.shape(skill)
        flat = jnp.reshape(obs, lead + (self.obs_dim,)).astype(jnp.float32)
        one_hot = jax.nn.one_hot(skill, self.num_skills, dtype=jnp.float32)
        return jnp.concatenate([flat, one_hot], axis=-1)

    def step_env(self, key, state, action, params):
        obs, inner, reward, terminated, info = self.env.step_env(
            key, state.inner, action, params
        )
        new_state = SkillState(inner, state.skill)
        return self.with_skill(obs, state.skill), new_state, reward, terminated, info

    def reset_env(self, key, params):
        key_skill, key_env = jax.random.split(key)
        skill = jax.random.randint(key_skill, (), 0, self.num_skills, jnp.int32)
        obs, inner = self.env.reset_env(key_env, params)
        return self.with_skill(obs, skill), SkillState(inner, skill)

    def reset_with_skill(self, key, params, skill):
        """Reset to a given `skill` ([] int): `(obs, state)` as `reset`."""
        obs, inner = self.env.reset_env(key, params)
        skill = jnp.asarray(skill, jnp.int32)
        return self.with_skill(obs, skill), SkillState(inner, skill)

    def is_truncated(self, state, params):
        return self.env.is_truncated(state.inner, params)

    def is_terminal(self, state, params):
        return self.env.is_terminal(state.inner, params)

    @property
    def name(self) -> str:
        return f"Skills[{getattr(self.env, 'name', type(self.env).__name__)}]"

    @property
    def num_actions(self):
        return self.env.num_actions

    def action_space(self, params=None):
        return self.env.action_space(params)

    def observation_space(self, params=None) -> spaces.Box:
        shape = (self.obs_dim + self.num_skills,)
        return spaces.Box(-jnp.inf, jnp.inf, shape, jnp.float32)
