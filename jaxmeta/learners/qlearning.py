"""Tabular Q-learning (Watkins 1989) and SARSA (Rummery and Niranjan 1994)
on envs whose observation is a state index (Four Rooms, Taxi).

Both learn online from every env step with a constant step size alpha
(`learning_rate`) and act epsilon-greedily, ties broken at random:

    Q-learning: Q(s, a) += alpha [r + gamma max_b Q(s', b) - Q(s, a)]
    SARSA:      Q(s, a) += alpha [r + gamma Q(s', a') - Q(s, a)]

where SARSA's a' is the action it then takes in s', drawn before the update
(so SARSA learns the value of its own epsilon-greedy policy; Q-learning
that of the greedy one). A termination ends the target at r; a time-limit
truncation bootstraps from the pre-reset state s' (SARSA from the expected
value of its epsilon-greedy policy there, as a' belongs to the next
episode). Epsilon falls linearly from `eps_start` to `eps_end` over
`eps_decay_episodes` episodes per env. With several envs, those that update
the same entry in one step move it by the mean of their TD steps.
"""

import dataclasses

import jax.numpy as jnp

from jaxmeta.learners.common.tabular import (
    add_updates,
    epsilon_greedy_masked,
    epsilon_greedy_mean,
)
from jaxmeta.learners.common.tabular_learner import TabularLearner


@dataclasses.dataclass(frozen=True)
class QLearning(TabularLearner):
    """Static config of tabular Q-learning: `env` with Discrete state
    observations and actions, `num_envs x num_steps` steps per update, and
    `record_episodes` (report every ended episode's length and first
    state). Hyperparameters: `TabularHParams` (all traced)."""

    on_policy = False  # SARSA: True

    def __post_init__(self):
        self._check_tabular()

    @property
    def num_choices(self) -> int:
        return self.num_actions

    def _agent_init(self, words, q, obs, epsilon) -> dict:
        if not self.on_policy:
            return {}
        mask = jnp.ones(q[obs].shape, bool)
        return {"action": epsilon_greedy_masked(words, q[obs], mask, epsilon)}

    def _fns(self, hparams):
        num_actions = self.num_actions

        def choose(words, q, carry, epsilon):
            if self.on_policy:
                return carry.agent["action"]
            mask = jnp.ones((words.shape[0], num_actions), bool)
            return epsilon_greedy_masked(words[:, :2], q[carry.obs], mask, epsilon)

        def learn(words, q, carry, step, epsilon):
            q_final = q[step.final_obs]
            agent = {}
            if self.on_policy:
                # The next action, drawn from Q before this step's update.
                mask = jnp.ones(q_final.shape, bool)
                next_action = epsilon_greedy_masked(
                    words[:, 2:], q[step.next_obs], mask, epsilon
                )
                taken = jnp.take_along_axis(q_final, next_action[:, None], 1)[:, 0]
                expected = epsilon_greedy_mean(q_final, mask, epsilon)
                bootstrap = jnp.where(step.truncated, expected, taken)
                agent = {"action": next_action}
            else:
                bootstrap = jnp.max(q_final, axis=-1)
            not_terminal = 1.0 - step.terminated.astype(jnp.float32)
            target = step.reward + hparams.gamma * not_terminal * bootstrap
            hit = step.action[:, None] == jnp.arange(num_actions)
            value = jnp.sum(jnp.where(hit, q[step.obs], 0.0), axis=-1)
            error = target - value
            delta = jnp.where(hit, (hparams.learning_rate * error)[:, None], 0.0)
            q = add_updates(q, step.obs, delta, hit)
            return q, agent, jnp.abs(error), jnp.ones_like(error)

        return choose, learn


@dataclasses.dataclass(frozen=True)
class SARSA(QLearning):
    """On-policy SARSA: the static config and hyperparameters of
    `QLearning`; the target bootstraps from the action taken next."""

    on_policy = True
