"""CartPole with a continuous horizontal force (the trust-region paper's Cartpole).

Dynamics, reward, reset and termination are CartPole-v1's (gymnax's params and
Euler integration); only the action differs: a real number ``u`` in [-1, 1]
(clipped) that pushes the cart with force ``u * force_mag``. Tasks vary pole
mass, pole half-length and cart mass with `CartPoleContinuousTasks`
(`CartPoleTasks` over this env's params, keeping ``total_mass`` and
``polemass_length`` consistent).
"""

import jax
import jax.numpy as jnp
from gymnax.environments import spaces
from gymnax.environments.classic_control.cartpole import CartPole, EnvParams, EnvState

from jaxmeta.envs.tasks import CartPoleTasks


class CartPoleContinuous(CartPole):
    """Observation ``[4]`` = (x, x_dot, theta, theta_dot); action ``[1]`` in [-1, 1]."""

    def step_env(self, key, state, action, params):
        """One Euler step under force ``clip(action, -1, 1) * force_mag``."""
        prev_terminated = self.is_terminated(state, params)
        force = params.force_mag * jnp.clip(jnp.reshape(action, ()), -1.0, 1.0)
        cos_theta = jnp.cos(state.theta)
        sin_theta = jnp.sin(state.theta)
        temp = (
            force + params.polemass_length * state.theta_dot**2 * sin_theta
        ) / params.total_mass
        theta_acc = (params.gravity * sin_theta - cos_theta * temp) / (
            params.length
            * (4.0 / 3.0 - params.masspole * cos_theta**2 / params.total_mass)
        )
        x_acc = (
            temp - params.polemass_length * theta_acc * cos_theta / params.total_mass
        )
        new_state = EnvState(
            x=state.x + params.tau * state.x_dot,
            x_dot=state.x_dot + params.tau * x_acc,
            theta=state.theta + params.tau * state.theta_dot,
            theta_dot=state.theta_dot + params.tau * theta_acc,
            time=state.time + 1,
        )
        # As CartPole-v1: the reward is 1 unless the previous state was terminal.
        reward = 1.0 - prev_terminated.astype(jnp.float32)
        terminated = self.is_terminated(new_state, params)
        return (
            jax.lax.stop_gradient(self.get_obs(new_state)),
            jax.lax.stop_gradient(new_state),
            reward,
            terminated,
            {"discount": self.discount(new_state, params)},
        )

    @property
    def name(self) -> str:
        return "CartPoleContinuous-v1"

    @property
    def num_actions(self) -> int:
        return 1

    def action_space(self, params=None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (1,), jnp.float32)


# This env shares CartPole-v1's params, so its tasks are CartPole's.
CartPoleContinuousTasks = CartPoleTasks


def make_cartpole_continuous(**param_overrides):
    """Registry factory: ``(CartPoleContinuous(), EnvParams(**param_overrides))``,
    with ``total_mass`` and ``polemass_length`` derived from the masses and length."""
    params = EnvParams(**param_overrides)
    for name in ("masscart", "masspole", "length", "force_mag"):
        if not getattr(params, name) > 0:
            raise ValueError(f"{name} must be > 0, got {getattr(params, name)}")
    params = params.replace(
        total_mass=params.masscart + params.masspole,
        polemass_length=params.masspole * params.length,
    )
    return CartPoleContinuous(), params
