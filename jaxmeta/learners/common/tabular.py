"""Pieces every tabular learner shares (Q-learning, SARSA, SMDP and
intra-option Q-learning): the hyperparameters, the check of a tabular env,
epsilon-greedy over the choices available in a state (actions, or options)
with random tie-breaking, and the table update of several envs at once.
The learner scaffolding and the step loop are in `tabular_learner.py`.

Random choices take uint32 words (`jax.random.bits`), two per choice: one
decides exploration, one picks uniformly among the candidates, so a choice
costs one threefry call whatever the number of candidates.
"""

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces

from jaxmeta.learners.common.q_learning import linear_epsilon
from jaxmeta.validation import Domain

UNIT = Domain(0.0, 1.0)


@struct.dataclass
class TabularHParams:
    learning_rate: jax.Array = 0.125
    gamma: jax.Array = 0.9
    eps_start: jax.Array = 0.1
    eps_end: jax.Array = 0.1
    eps_decay_episodes: jax.Array = 0.0  # linear, in episodes per env (0: at once)
    q_init: jax.Array = 0.0  # every table entry before learning


HPARAM_DOMAINS = {
    "learning_rate": Domain(0.0, 1.0, open_minimum=True),
    "gamma": UNIT,
    "eps_start": UNIT,
    "eps_end": UNIT,
    "eps_decay_episodes": Domain(0.0, float("inf"), open_maximum=True),
}


def tabular_sizes(env, env_params, learner: str) -> tuple[int, int]:
    """`(num_states, num_actions)` of an env with Discrete observations (a
    state index) and Discrete actions; ValueError naming `learner` else."""
    observations = env.observation_space(env_params)
    actions = env.action_space(env_params)
    name = getattr(env, "name", type(env).__name__)
    if not isinstance(observations, spaces.Discrete):
        raise ValueError(
            f"{learner} needs integer state observations (a Discrete observation "
            f"space, e.g. FourRooms-options or Taxi-v3 with obs_mode='index'); "
            f"{name} observes {type(observations).__name__}"
        )
    if not isinstance(actions, spaces.Discrete):
        raise ValueError(f"{learner} needs discrete actions; {name} has Box actions")
    return int(observations.n), int(actions.n)


def state_index(obs):
    """`[N]` or `[N, 1]` observations (any dtype) -> `[N]` int32 indices."""
    obs = jnp.asarray(obs)
    return jnp.reshape(obs, (obs.shape[0],)).astype(jnp.int32)


def unit_float(word):
    """uint32 words -> float32 in [0, 1), same shape (24 random bits)."""
    return (word >> 8).astype(jnp.float32) * jnp.float32(2.0**-24)


def masked_choice(word, mask):
    """Uniform pick among the True entries of `mask: [..., K]` from one
    uint32 word per row `[...]`; int32 `[...]` (index 0 if none is True)."""
    count = jnp.sum(mask, axis=-1)
    rank = jnp.floor(unit_float(word) * count).astype(jnp.int32)
    seen = jnp.cumsum(mask, axis=-1)
    return jnp.argmax(mask & (seen > rank[..., None]), axis=-1).astype(jnp.int32)


def masked_max(q, mask):
    """Max of `q: [..., K]` over `mask` (every row must have a True entry)."""
    return jnp.max(jnp.where(mask, q, -jnp.inf), axis=-1)


def epsilon_greedy_masked(words, q, mask, epsilon):
    """Epsilon-greedy over the available choices: with probability epsilon
    uniform among `mask`, else uniform among the maximisers of `q` over
    `mask` (random tie-breaking). words: [..., 2] uint32; q, mask: [..., K].
    Returns int32 [...]."""
    best = masked_max(q, mask)
    ties = mask & (q == best[..., None])
    explore = unit_float(words[..., 0]) < epsilon
    return masked_choice(words[..., 1], jnp.where(explore[..., None], mask, ties))


def greedy_masked(q, mask):
    """The first maximiser of `q: [..., K]` over `mask` (deterministic)."""
    return jnp.argmax(jnp.where(mask, q, -jnp.inf), axis=-1).astype(jnp.int32)


def epsilon_greedy_mean(q, mask, epsilon):
    """Expected `q` under `epsilon_greedy_masked` (ties shared): [...]."""
    explore = jnp.sum(jnp.where(mask, q, 0.0), -1) / jnp.sum(mask, -1)
    return epsilon * explore + (1.0 - epsilon) * masked_max(q, mask)


def epsilon_at(hparams: TabularHParams, episodes, num_envs: int):
    """The schedule's epsilon after `episodes` finished over `num_envs` envs."""
    per_env = episodes.astype(jnp.float32) / num_envs
    return linear_epsilon(
        hparams.eps_start, hparams.eps_end, hparams.eps_decay_episodes, per_env, 1
    )


def add_updates(q, rows, delta, hit):
    """`q[rows[i]] += delta[i]` for `rows: [N]`, `delta: [N, K]`, where
    `hit: [N, K]` bool marks the entries env i updates. Envs that update
    the same entry in one step share it: each adds its delta divided by
    their number, so the entry moves by the mean of their TD steps."""
    if rows.shape[0] > 1:
        same = (rows[:, None] == rows[None, :]).astype(jnp.float32)  # [N, N]
        share = jnp.einsum("ij,jk->ik", same, hit.astype(jnp.float32))
        delta = delta / jnp.maximum(share, 1.0)
    return q.at[rows].add(delta)
