"""State and plumbing shared by the on-policy learners (PPO, REINFORCE)."""

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxmeta.learners.common.policy import PolicyHead
from jaxmeta.learners.common.rollout import EnvCarry, policy_input
from jaxmeta.nets.mlp import check_activation


@struct.dataclass
class OnPolicyState:
    params: dict  # {"actor": ...} and, with a critic, "critic"
    opt_state: optax.OptState
    env: EnvCarry
    update_count: jax.Array  # [] int32
    diverged: jax.Array  # [] bool


def clipped_adam(hparams, eps: float) -> optax.GradientTransformation:
    """Global-norm clipping at hparams.max_grad_norm, then Adam at
    hparams.learning_rate. Built from traced hparams inside init/update: Adam's
    state does not depend on the rate, so a population of rates traces once."""
    return optax.chain(
        optax.clip_by_global_norm(hparams.max_grad_norm),
        optax.adam(hparams.learning_rate, eps=eps),
    )


def initial_state(params, opt_state, env: EnvCarry) -> OnPolicyState:
    """A fresh state: no updates done, not diverged."""
    return OnPolicyState(
        params, opt_state, env, jnp.asarray(0, jnp.int32), jnp.asarray(False)
    )


def checked_hidden(hidden, activation: str) -> tuple[int, ...]:
    """Validate the network config; returns `hidden` as a tuple of ints."""
    if not hidden or any(int(h) <= 0 for h in hidden):
        raise ValueError(f"hidden must be positive layer widths, got {hidden}")
    check_activation(activation)
    return tuple(int(h) for h in hidden)


def float32_defaults(hparams_cls):
    """The defaults of a hparams struct as float32 scalars."""
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float32), hparams_cls())


def sample_env_action(key, head: PolicyHead, actor, state, obs, normalize_obs):
    """Sample env actions for raw `obs: [N, obs_dim]` from `state`'s actor."""
    obs_in = policy_input(state.env, obs, normalize_obs)
    out = actor.apply(state.params["actor"], obs_in)
    return head.to_env(head.sample(key, out)[0])
