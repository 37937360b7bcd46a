"""Action distributions for discrete and continuous action spaces.

`PolicyHead` is static (hashable) and derived from the env's action space; it
builds the actor network and turns its output into samples, log-probabilities and
entropies. Continuous actions are sampled unclipped (their log-probability is
exact) and clipped to the action bounds only when sent to the environment. The
head's shapes come from the env's default params; the bounds themselves come
from the env_params a member trains on (`action_bounds`), so a task that changes
them (Pendulum's `max_torque`) is respected.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import spaces

from jaxmeta.nets.mlp import DiscreteActor, GaussianActor

_LOG_2PI = float(np.log(2 * np.pi))


@dataclasses.dataclass(frozen=True)
class PolicyHead:
    discrete: bool
    action_dim: int  # number of actions (discrete) or action size (continuous)
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()
    env_shape: tuple[int, ...] = ()  # the env's own action shape (continuous)

    def actor(self, hidden, activation):
        """The flax actor module for this action space."""
        if self.discrete:
            return DiscreteActor(self.action_dim, tuple(hidden), activation)
        return GaussianActor(self.action_dim, tuple(hidden), activation)

    def sample(self, key, out):
        """Sample `(action, log_prob)`; out is the actor output for `[..., obs]`."""
        if self.discrete:
            action = jax.random.categorical(key, out)
            return action, self.log_prob(out, action)
        mean, log_std = out
        action = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
        return action, self.log_prob(out, action)

    def log_prob(self, out, action):
        """Log-probability `[...]` of `action` (`[...]` int or `[..., dim]`)."""
        if self.discrete:
            logp_all = jax.nn.log_softmax(out)
            # A one-hot contraction, not a gather: under vmap a gather (and its
            # scatter-add gradient) runs element by element on CPU.
            one_hot = jax.nn.one_hot(action, self.action_dim, dtype=logp_all.dtype)
            return jnp.sum(logp_all * one_hot, -1)
        mean, log_std = out
        z = (action - mean) * jnp.exp(-log_std)
        return jnp.sum(-0.5 * z**2 - log_std - 0.5 * _LOG_2PI, -1)

    def entropy(self, out):
        """Entropy `[...]` of the action distribution."""
        if self.discrete:
            logp_all = jax.nn.log_softmax(out)
            return -jnp.sum(jnp.exp(logp_all) * logp_all, -1)
        mean, log_std = out
        ent = jnp.sum(log_std + 0.5 * (1.0 + _LOG_2PI))
        return jnp.broadcast_to(ent, mean.shape[:-1])

    def kl(self, out_p, out_q):
        """KL(p || q) `[...]` between two actor outputs for the same states."""
        if self.discrete:
            logp = jax.nn.log_softmax(out_p)
            logq = jax.nn.log_softmax(out_q)
            return jnp.sum(jnp.exp(logp) * (logp - logq), -1)
        (mean_p, log_std_p), (mean_q, log_std_q) = out_p, out_q
        var_p, var_q = jnp.exp(2 * log_std_p), jnp.exp(2 * log_std_q)
        per_dim = (
            log_std_q - log_std_p + (var_p + (mean_p - mean_q) ** 2) / (2 * var_q) - 0.5
        )
        return jnp.sum(per_dim, -1)

    def mode(self, out):
        """Most likely action."""
        return jnp.argmax(out, -1) if self.discrete else out[0]

    def to_env(self, action, low, high):
        """The action sent to the environment: discrete unchanged; continuous
        clipped to `[low, high]` (each `[action_dim]`, see `action_bounds`)."""
        if self.discrete:
            return action
        clipped = jnp.clip(action, low, high)
        return clipped.reshape(action.shape[:-1] + self.env_shape)


def action_bounds(env, env_params, head: PolicyHead):
    """`(low, high)`, each `[action_dim]` float32, of `env.action_space(env_params)`
    (traced with the params, so per-member tasks keep their own bounds); empty
    `[0]` arrays for a discrete space."""
    if head.discrete:
        return jnp.zeros(0, jnp.float32), jnp.zeros(0, jnp.float32)
    space = env.action_space(env_params)
    shape = tuple(space.shape) or (1,)

    def flat(x):
        return jnp.broadcast_to(jnp.asarray(x, jnp.float32), shape).reshape(-1)

    return flat(space.low), flat(space.high)


def policy_head_for(env, env_params) -> PolicyHead:
    """Build the `PolicyHead` matching `env.action_space(env_params)` (static:
    kind, size and shape; `low`/`high` record the default bounds only).
    Safe inside a trace: envs that build their space from jnp arrays (brax)
    are evaluated eagerly here, on concrete (default) params."""
    with jax.ensure_compile_time_eval():
        space = env.action_space(env_params)
        return _head_of_space(space)


def _head_of_space(space) -> PolicyHead:
    if isinstance(space, spaces.Discrete):
        return PolicyHead(True, int(space.n))
    if isinstance(space, spaces.Box):
        shape = tuple(space.shape) or (1,)
        low = np.broadcast_to(np.asarray(space.low, np.float32), shape).ravel()
        high = np.broadcast_to(np.asarray(space.high, np.float32), shape).ravel()
        return PolicyHead(
            False,
            int(np.prod(shape)),
            tuple(float(x) for x in low),
            tuple(float(x) for x in high),
            tuple(space.shape),
        )
    raise ValueError(
        f"action_space must be gymnax Discrete or Box, got {type(space).__name__}"
    )


def squash_to_bounds(pre_squash, low, high):
    """Unbounded actions `[..., dim]` -> `low + (tanh(u) + 1) / 2 * (high -
    low)`, inside the bounds (`[dim]` each, see `action_bounds`)."""
    return low + 0.5 * (jnp.tanh(pre_squash) + 1.0) * (high - low)
