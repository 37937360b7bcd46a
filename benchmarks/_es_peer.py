"""The OpenAI-ES loop a user writes with evosax and a gymnax-API env directly.

`evosax_train(env, env_params, population, max_steps, num_generations, sigma,
learning_rate)` returns a jitted `train(key) -> (state, returns [generations])`:
`Open_ES.init`, then a `lax.scan` over generations of ask -> a vmapped
episode per member -> tell (evosax minimises, so fitness = -return). This is
evosax's own pattern (`ask`/`tell` are jitted with the strategy static; the
loop body is one jitted function) with the Python loop replaced by a scan,
the same shape as `jaxmeta.learners.train`, so per-generation dispatch costs
neither side anything.

Episode: reset, then a fixed-length `lax.scan` of `max_steps` env steps with
a done mask (rewards after the first `terminated | truncated` are dropped;
gymnax auto-resets, the scan keeps stepping). Policy: Dense 64 -> tanh ->
Dense 64 -> tanh -> Dense action_dim, squashed into the action box by tanh.
Adam of rate `learning_rate` on the mean, constant sigma, antithetic noise,
centred-rank fitness shaping: evosax's defaults for OpenAI-ES.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from evosax.algorithms import Open_ES


class Policy(nn.Module):
    action_dim: int
    hidden: tuple = (64, 64)

    @nn.compact
    def __call__(self, obs):
        x = obs
        for width in self.hidden:
            x = jnp.tanh(nn.Dense(width)(x))
        return nn.Dense(self.action_dim)(x)


def evosax_train(
    env, env_params, population, max_steps, num_generations, sigma, learning_rate
):
    space = env.action_space(env_params)
    shape = tuple(space.shape) or (1,)
    low = jnp.broadcast_to(jnp.asarray(space.low, jnp.float32), shape).reshape(-1)
    high = jnp.broadcast_to(jnp.asarray(space.high, jnp.float32), shape).reshape(-1)
    obs, _ = env.reset(jax.random.key(0), env_params)
    policy = Policy(low.size)
    template = policy.init(jax.random.key(0), jnp.reshape(obs, (-1,)))
    strategy = Open_ES(
        population,
        template,
        optimizer=optax.adam(learning_rate),
        std_schedule=optax.constant_schedule(sigma),
    )
    es_params = strategy.default_params

    def act(params, obs):
        out = policy.apply(params, jnp.reshape(obs, (-1,)).astype(jnp.float32))
        action = low + 0.5 * (jnp.tanh(out) + 1.0) * (high - low)
        return action.reshape(space.shape)

    def episode(key, params):
        """([] return, [] live steps) of one episode of at most max_steps."""
        key_reset, key_steps = jax.random.split(key)
        obs, state = env.reset(key_reset, env_params)

        def step(carry, key):
            obs, state, alive, total, length = carry
            obs, state, reward, terminated, truncated, _ = env.step(
                key, state, act(params, obs), env_params
            )
            total = total + jnp.where(alive, reward, 0.0)
            length = length + alive
            alive = alive & ~(terminated | truncated)
            return (obs, state, alive, total, length), None

        init = (obs, state, jnp.asarray(True), jnp.float32(0.0), jnp.int32(0))
        keys = jax.random.split(key_steps, max_steps)
        (_, _, _, total, length), _ = jax.lax.scan(step, init, keys)
        return total, length

    def generation(state, key):
        key_ask, key_eval, key_tell = jax.random.split(key, 3)
        members, state = strategy.ask(key_ask, state, es_params)
        returns, lengths = jax.vmap(episode)(
            jax.random.split(key_eval, population), members
        )
        state, _ = strategy.tell(key_tell, members, -returns, state, es_params)
        return state, (returns.mean(), lengths.sum())

    @jax.jit
    def train(key):
        key_init, key_gens = jax.random.split(key)
        state = strategy.init(key_init, template, es_params)
        keys = jax.random.split(key_gens, num_generations)
        return jax.lax.scan(generation, state, keys)

    return train
