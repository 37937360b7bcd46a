"""One trial of a per-step agent on one task: `episodes` consecutive episodes
of an env on the same env_params, the agent's own state carried across them
(Duan et al.'s trial, without `RL2Trials`' task resampling).

An agent is a static (hashable) object with four pure methods; its numbers
(exploration rates, network weights, index tables) are the traced
`agent_params`:

    init(key, agent_params) -> agent_state
    begin_episode(key, agent_state, agent_params) -> agent_state
    act(key, agent_state, agent_params, obs, t) -> (action, agent_state)
    observe(key, agent_state, agent_params, obs, action, reward, next_obs,
            done, t) -> agent_state

``begin_episode`` runs once per episode (PSRL draws its MDP and plans there),
``t`` is the step index within the current episode ([] int32), ``next_obs``
the observation the step ended in (before the env's auto-reset) and ``done``
whether it ended the episode. The env's reset key and step keys are derived
from `key` in the same way for every agent, so agents run with the same key
on the same task see the same env noise: a Bernoulli bandit's rewards are
common random numbers across methods.
"""

import jax
import jax.numpy as jnp


def run_trial(agent, key, agent_params, env, task, episodes: int):
    """Total reward of one trial of `episodes` episodes on `task`.

    env: a gymnax-contract env (auto-resetting, every episode ending by its
    default `max_steps_in_episode`); task: its env_params, unbatched (vmap
    over `key`, `agent_params` and `task` for many). A scan over episodes
    (the agent's `begin_episode` at each start) of a scan over the episode's
    steps, masked after it ends. Returns `(total [], episode_returns
    [episodes])`.
    """
    length = int(env.default_params.max_steps_in_episode)
    key_reset, key_agent, key_episodes = jax.random.split(key, 3)
    obs, env_state = env.reset(key_reset, task)
    agent_state = agent.init(key_agent, agent_params)

    def step(carry, inputs):
        key, t = inputs
        obs, env_state, agent_state, alive = carry
        key_act, key_env, key_learn = jax.random.split(key, 3)
        action, new_agent = agent.act(key_act, agent_state, agent_params, obs, t)
        new_obs, new_env, reward, terminated, truncated, info = env.step(
            key_env, env_state, action, task
        )
        done = jnp.logical_or(terminated, truncated)
        new_agent = agent.observe(
            key_learn, new_agent, agent_params, obs, action, reward,
            info["final_observation"], done, t,
        )  # fmt: skip
        # After the episode ended the rest of its steps change nothing.
        new = jax.tree_util.tree_map(
            lambda n, o: jnp.where(alive, n, o),
            (new_obs, new_env, new_agent),
            (obs, env_state, agent_state),
        )
        reward = jnp.where(alive, reward, 0.0).astype(jnp.float32)
        return (*new, jnp.logical_and(alive, ~done)), reward

    def episode(carry, key):
        obs, env_state, agent_state = carry
        key_begin, key_steps = jax.random.split(key)
        agent_state = agent.begin_episode(key_begin, agent_state, agent_params)
        inputs = (jax.random.split(key_steps, length), jnp.arange(length))
        init = (obs, env_state, agent_state, jnp.array(True))
        (obs, env_state, agent_state, _), rewards = jax.lax.scan(step, init, inputs)
        return (obs, env_state, agent_state), rewards.sum()

    _, returns = jax.lax.scan(
        episode,
        (obs, env_state, agent_state),
        jax.random.split(key_episodes, episodes),
    )
    return returns.sum(), returns
