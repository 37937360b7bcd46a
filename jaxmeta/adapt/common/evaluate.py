"""Evaluation of an adapter on one (held-out) task: the return after each
of 0..K inner steps from the meta-learned parameters."""

import jax
import jax.numpy as jnp

from jaxmeta.adapt.common.episodes import mean_return
from jaxmeta.adapt.common.inner import apply_direction


def adaptation_returns(
    key, params, lr, step, sampler, reuse_step_episodes: bool, hparams,
    env_params, num_steps: int,
):  # fmt: skip
    """Mean undiscounted return `[num_steps + 1]` of fresh episodes of the
    policy after 0, 1, ..., num_steps first-order inner `step`s on the task
    `env_params`. sampler: a `PolicyGradientStep` (its `sample` measures).
    With `reuse_step_episodes` the returns before each step are those of the
    episodes the step itself sampled (the built-in step: MAML's protocol);
    otherwise (a learner's update) separate episodes are sampled."""
    key_start, key_steps, key_final = jax.random.split(key, 3)
    carry = step.start(key_start, params, hparams, env_params)

    def body(state, key):
        params, carry = state
        key_measure, key_step = jax.random.split(key)
        direction, carry, _, stats = step.direction(
            key_step, params, carry, hparams, env_params
        )
        if reuse_step_episodes:
            measured = stats["return"]
        else:
            measured = mean_return(sampler.sample(key_measure, params, env_params))
        return (apply_direction(params, direction, lr, True), carry), measured

    keys = jax.random.split(key_steps, num_steps)
    (params, _), returns = jax.lax.scan(body, (params, carry), keys)
    final = mean_return(sampler.sample(key_final, params, env_params))
    return jnp.concatenate([returns, final[None]])
