"""The FeUdal network (Vezhnevets et al. 2017), one env step at a time, and
the two quantities its training needs from a replayed segment: the
worker's intrinsic reward and the manager's state transitions.

Per step: z = f_percept(x) (an MLP); the manager's latent state s =
relu(W z) ([d]); a dilated LSTM of radius r (r cores with shared weights,
core t mod r updated at step t, the others unchanged) reads s and emits
g_hat, the goal g = g_hat / |g_hat| a unit direction in the latent space;
the worker LSTM reads z and emits U ([A, k] action embeddings); the goals
of the last c steps are summed and embedded by phi (linear, no bias) into
w ([k]); the policy is softmax(U w). Gradients do not flow from the
worker into the goals (the paper's decoupling). Value heads: V^W on the
worker's output, V^M on the manager's.

Memory (leaves `[N, ...]`, zeroed at episode ends): the dilated LSTM's
cores (c and h, `[N, r, d]`), the worker LSTM's (`[N, H]`), the step
counter `[N]` int32 (which core runs), and the last c - 1 latent states and
goals (`[N, c - 1, d]`, most recent first) with their validity `[N, c - 1]`.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxmeta.nets.mlp import MLP


def safe_norm(x, eps: float = 1e-8):
    """max(||x||, eps) `[...]` over the last axis, with a finite gradient at
    x = 0 (jnp.linalg.norm's is NaN there: a dead ReLU latent and a fresh
    LSTM core give exact zeros)."""
    return jnp.sqrt(jnp.maximum(jnp.sum(x * x, -1), eps * eps))


def unit(x, eps: float = 1e-8):
    """x / max(||x||, eps) over the last axis (0 stays 0)."""
    return x / safe_norm(x, eps)[..., None]


def cosine(a, b, eps: float = 1e-8):
    """d_cos(a, b) `[...]` over the last axis; 0 where either is zero."""
    return jnp.sum(a * b, -1) / (safe_norm(a, eps) * safe_norm(b, eps))


def zero_feudal_memory(batch, radius, goal_dim, worker_hidden, horizon) -> dict:
    """The memory of `batch` fresh episodes (shapes in the module docstring)."""
    core = jnp.zeros((batch, radius, goal_dim), jnp.float32)
    worker = jnp.zeros((batch, worker_hidden), jnp.float32)
    past = jnp.zeros((batch, horizon - 1, goal_dim), jnp.float32)
    return {
        "manager": (core, core),
        "worker": (worker, worker),
        "tick": jnp.zeros(batch, jnp.int32),
        "states": past,
        "goals": past,
        "valid": jnp.zeros((batch, horizon - 1), jnp.float32),
    }


def _push(history, value):
    """history [N, c - 1, ...] most recent first; value [N, ...] joins it."""
    joined = jnp.concatenate([value[:, None], history], 1)
    return joined[:, : history.shape[1]]


class FeudalNet(nn.Module):
    """`(memory, obs [N, obs_dim]) -> (memory, out)`; out: "logits" [N, A],
    "v_worker" [N], "v_manager" [N], "s" [N, d], "g" [N, d]. `latent(obs)`
    gives s alone."""

    num_actions: int
    hidden: tuple[int, ...] = (64,)
    worker_hidden: int = 64
    goal_dim: int = 32
    embed_dim: int = 16
    horizon: int = 10
    radius: int = 10
    activation: str = "relu"

    def setup(self):
        self.percept = MLP(self.hidden, None, self.activation)
        self.mspace = nn.Dense(self.goal_dim)
        self.manager = nn.OptimizedLSTMCell(self.goal_dim)
        self.worker = nn.OptimizedLSTMCell(self.worker_hidden)
        orthogonal = nn.initializers.orthogonal
        self.action_embed = nn.Dense(
            self.num_actions * self.embed_dim, kernel_init=orthogonal(0.01)
        )
        self.phi = nn.Dense(self.embed_dim, use_bias=False)
        self.v_worker = nn.Dense(1, kernel_init=orthogonal(1.0))
        self.v_manager = nn.Dense(1, kernel_init=orthogonal(1.0))

    def _encode(self, obs):
        z = self.percept(obs)
        return z, nn.relu(self.mspace(z))

    def latent(self, obs):
        """The manager's latent state s `[..., d]` of `obs: [..., obs_dim]`."""
        return self._encode(obs)[1]

    def __call__(self, memory, obs):
        z, s = self._encode(obs)
        # Dilated LSTM: only core (tick mod r) reads s_t and moves.
        which = jax.nn.one_hot(memory["tick"] % self.radius, self.radius)[..., None]
        cores_c, cores_h = memory["manager"]
        carry = (jnp.sum(cores_c * which, 1), jnp.sum(cores_h * which, 1))
        (new_c, new_h), g_hat = self.manager(carry, s)
        cores = (
            jnp.where(which > 0, new_c[:, None], cores_c),
            jnp.where(which > 0, new_h[:, None], cores_h),
        )
        g = unit(g_hat)
        worker_carry, u = self.worker(memory["worker"], z)
        pooled = jax.lax.stop_gradient(g + jnp.sum(memory["goals"], 1))
        w = self.phi(pooled)  # [N, k]
        embeddings = self.action_embed(u).reshape(
            u.shape[:-1] + (self.num_actions, self.embed_dim)
        )
        logits = jnp.einsum("...ak,...k->...a", embeddings, w)
        memory = {
            "manager": cores,
            "worker": worker_carry,
            "tick": memory["tick"] + 1,
            "states": _push(memory["states"], s),
            "goals": _push(memory["goals"], g),
            "valid": _push(memory["valid"], jnp.ones_like(s[:, 0])),
        }
        out = {
            "logits": logits,
            "v_worker": jnp.squeeze(self.v_worker(u), -1),
            "v_manager": jnp.squeeze(self.v_manager(g_hat), -1),
            "s": s,
            "g": g,
        }
        return memory, out


def intrinsic_reward(states, goals, next_states, memory, resets, horizon: int):
    """The worker's reward for each step of a segment.

    r^I_t = (1/c) sum_{i=0}^{c-1} d_cos(s'_t - s_{t-i}, g_{t-i}): the paper's
    r^I_{t+1}, paid to the action a_t that led to s'_t (the latent of the
    observation after step t). Terms from before the episode's start are 0.
    states, goals, next_states: [T, N, d]; memory: at the segment's start
    (its "states", "goals", "valid" hold the c - 1 steps before it); resets:
    [T, N] (an episode began at step t). Returns [T, N].
    """
    steps = states.shape[0]
    past = lambda x: jnp.flip(jnp.swapaxes(x, 0, 1), 0)  # noqa: E731  oldest first
    all_s = jnp.concatenate([past(memory["states"]), states], 0)
    all_g = jnp.concatenate([past(memory["goals"]), goals], 0)
    valid = jnp.concatenate([past(memory["valid"]), jnp.ones(resets.shape)], 0)
    episode = jnp.cumsum(resets.astype(jnp.int32), 0)  # [T, N]
    all_episode = jnp.concatenate(
        [jnp.zeros((horizon - 1,) + resets.shape[1:], jnp.int32), episode], 0
    )
    total = jnp.zeros(resets.shape)
    for i in range(horizon):
        at = jnp.arange(steps) + (horizon - 1 - i)  # where step t - i is
        same = (all_episode[at] == episode) * valid[at]
        total = total + same * cosine(next_states - all_s[at], all_g[at])
    return total / horizon


def transitions(states, next_states, done, horizon: int):
    """The manager's state change over its horizon, for each step.

    direction_t = s_{t+c} - s_t, with s_{t+c} the latent after step t+c-1,
    or after the step that ended the episode if it ended sooner. states,
    next_states: [T, N, d]; done: [T, N]. Returns `(direction [T, N, d],
    valid [T, N])`: valid is False where the horizon runs past the segment
    with the episode still going (its end state is not known yet).
    """
    steps = states.shape[0]
    ahead = jnp.arange(steps)[:, None] + jnp.arange(horizon)[None]  # [T, c]
    inside = ahead < steps
    done_ahead = done[jnp.minimum(ahead, steps - 1)] & inside[..., None]  # [T, c, N]
    ended = jnp.any(done_ahead, 1)
    offset = jnp.where(ended, jnp.argmax(done_ahead, 1), horizon - 1)  # [T, N]
    end = jnp.minimum(jnp.arange(steps)[:, None] + offset, steps - 1)
    reached = jnp.take_along_axis(next_states, end[..., None], axis=0)
    valid = ended | (jnp.arange(steps)[:, None] + horizon - 1 < steps)
    return reached - states, valid
