"""Pieces of value-based learners over discrete actions (DQN, h-DQN; the
schedule also tabular Q-learning): the linear epsilon schedule,
epsilon-greedy actions, the Q value of a taken action, the (double)
bootstrap value, the TD loss and one optimiser step on it."""

import jax
import jax.numpy as jnp
import optax

LOSSES = ("huber", "mse")


def linear_epsilon(start, end, decay_fraction, steps, total_timesteps: int):
    """Epsilon after `steps` env steps: `start` to `end` linearly over
    `decay_fraction * total_timesteps` steps, then `end` (at once when the
    fraction is 0). All but `total_timesteps` may be traced; shape of `steps`."""
    decay = decay_fraction * total_timesteps
    done = jnp.where(decay > 0, jnp.clip(steps / jnp.maximum(decay, 1e-9), 0, 1), 1)
    return start + done * (end - start)


def epsilon_greedy(key, q, epsilon):
    """Actions `[...]` int: uniform with probability epsilon, else argmax of
    `q: [..., num_actions]`."""
    key_explore, key_action = jax.random.split(key)
    uniform = jax.random.randint(key_action, q.shape[:-1], 0, q.shape[-1])
    explore = jax.random.uniform(key_explore, q.shape[:-1]) < epsilon
    return jnp.where(explore, uniform, jnp.argmax(q, -1))


def q_of(q, action):
    """`q: [..., num_actions]` at `action: [...]` int -> `[...]`."""
    # A one-hot contraction, not a gather (see PolicyHead.log_prob).
    return jnp.sum(q * jax.nn.one_hot(action, q.shape[-1], dtype=q.dtype), -1)


def bootstrap_value(next_target_q, next_online_q=None):
    """Value `[B]` of the next observation under the target network
    (`next_target_q: [B, num_actions]`), at the action the online network
    prefers when `next_online_q` is given (double DQN), else at the target's
    own argmax."""
    chooser = next_target_q if next_online_q is None else next_online_q
    return q_of(next_target_q, jnp.argmax(chooser, -1))


def td_loss(q, target, kind: str):
    """Mean Huber (delta 1) or half-squared (`kind`: one of LOSSES) TD error:
    q, target [B] -> []."""
    if kind == "huber":
        return jnp.mean(optax.huber_loss(q, target, delta=1.0))
    return jnp.mean(0.5 * (q - target) ** 2)


def td_step(q_fn, tx, params, target_params, opt_state, batch, kind: str, double):
    """One step of the optimiser `tx` on the TD loss (`kind`: one of LOSSES)
    of `batch` (as `replay_sample_n_step`: obs, action [B, 1] int, reward,
    next_obs, discount), bootstrapped from `target_params` at the online
    argmax (`double`) or the target's own. q_fn(params, obs [B, obs_dim]) ->
    [B, num_actions]. Returns `(params, opt_state, aux)`, aux {"td_loss",
    "q_mean"} of [] each."""
    next_obs = batch["next_obs"]
    next_online = q_fn(params, next_obs) if double else None
    next_q = bootstrap_value(q_fn(target_params, next_obs), next_online)
    target = jax.lax.stop_gradient(batch["reward"] + batch["discount"] * next_q)
    action = batch["action"][:, 0]

    def loss_fn(params):
        q = q_of(q_fn(params, batch["obs"]), action)
        return td_loss(q, target, kind), q

    (loss, q), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state)
    aux = {"td_loss": loss, "q_mean": jnp.mean(q)}
    return optax.apply_updates(params, updates), opt_state, aux
