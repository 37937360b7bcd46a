"""Q-learning over options (Sutton, Precup and Singh 1999): SMDP Q-learning
and one-step intra-option Q-learning, tabular.

Both behave the same way: in a state where no option runs, pick one of the
options that can start there (`OptionSet.initiation`), epsilon-greedily on
Q(s, .) with ties broken at random; follow its policy; after each step it
terminates with probability beta_o(s'), or with the episode. Primitive
actions enter as one-step options ("hallways+primitive").

SMDP Q-learning updates only the option that ran, when it ends after k
steps with discounted reward R = r_1 + gamma r_2 + ... + gamma^(k-1) r_k:

    Q(s, o) += alpha [R + gamma^k max_{o' in I(s')} Q(s', o') - Q(s, o)]

Intra-option Q-learning updates, after every step (s, a, r, s'), every
option o that can run in s (its domain) and whose policy takes a there:

    Q(s, o) += alpha [r + gamma U(s', o) - Q(s, o)]
    U(s', o) = (1 - beta_o(s')) Q(s', o) + beta_o(s') max_{o' in I(s')} Q(s', o')

A termination ends the target at the reward; a time-limit truncation
bootstraps from the pre-reset state s' (an SMDP option cut by it, not by
beta, from Q(s', o) when s' is in I(o): it would have gone on). Both
converge to Q*_O, the optimal values over the options
(`option_sets.option_value_iteration`).
"""

import dataclasses

import jax.numpy as jnp

from jaxmeta.learners.common.tabular import (
    add_updates,
    epsilon_greedy_masked,
    masked_max,
    unit_float,
)
from jaxmeta.learners.common.tabular_learner import TabularLearner
from jaxmeta.learners.hierarchical.option_sets import option_set


@dataclasses.dataclass(frozen=True)
class _OptionsLearner(TabularLearner):
    """Static config of an options learner: `TabularLearner`'s fields and
    `options`, an `OptionSet` or a built-in set's name (see
    `option_sets.OPTION_SETS`), checked against the env before compiling."""

    options: object = "primitive"

    def __post_init__(self):
        num_states, num_actions = self._check_tabular()
        options = option_set(self.options, num_states, num_actions)
        options.check_for(num_states, num_actions, type(self).__name__)
        object.__setattr__(self, "options", options)

    @property
    def num_choices(self) -> int:
        return self.options.num_options

    def _tables(self):
        """[S, O] tables: available, policy, termination, domain."""
        o = self.options
        return (
            jnp.asarray(o.initiation.T),
            jnp.asarray(o.policy.T),
            jnp.asarray(o.termination.T),
            jnp.asarray(o.domain.T),
        )

    def _available(self, s):
        return jnp.asarray(self.options.initiation.T)[s]

    def _action_of(self, choice, s):
        return jnp.asarray(self.options.policy.T)[s, choice]

    def _agent_init(self, words, q, obs, epsilon) -> dict:
        zeros = jnp.zeros(obs.shape, jnp.float32)
        option = epsilon_greedy_masked(words, q[obs], self._available(obs), epsilon)
        return {
            "option": option,  # [N] the running option
            "start": obs,  # [N] the state it started in
            "reward": zeros,  # [N] its discounted reward so far
            "discount": jnp.ones_like(zeros),  # [N] gamma ** its steps so far
        }

    def _fns(self, hparams):
        available, policy, termination, _ = self._tables()

        def choose(words, q, carry, epsilon):
            return policy[carry.obs, carry.agent["option"]]

        def learn(words, q, carry, step, epsilon):
            agent = carry.agent
            option = agent["option"]
            beta = termination[step.final_obs, option]
            stops = unit_float(words[:, 0]) < beta
            ends = stops | step.done
            reward = agent["reward"] + agent["discount"] * step.reward
            discount = agent["discount"] * hparams.gamma
            q, td, count = self._learn(
                q, agent, step, stops, ends, reward, discount, hparams
            )
            after = step.next_obs
            new_option = epsilon_greedy_masked(
                words[:, 2:], q[after], available[after], epsilon
            )
            zeros = jnp.zeros_like(reward)
            agent = {
                "option": jnp.where(ends, new_option, option),
                "start": jnp.where(ends, after, agent["start"]),
                "reward": jnp.where(ends, zeros, reward),
                "discount": jnp.where(ends, 1.0, discount),
            }
            return q, agent, td, count

        return choose, learn

    def _best_next(self, q, s):
        """max over the options that can start in `s: [N]`: [N]."""
        return masked_max(q[s], jnp.asarray(self.options.initiation.T)[s])


@dataclasses.dataclass(frozen=True)
class SMDPQ(_OptionsLearner):
    """SMDP Q-learning over `options` (module docstring): one update per
    option execution, when it ends."""

    def _learn(self, q, agent, step, stops, ends, reward, discount, hparams):
        option = agent["option"]
        # Cut by the time limit, the option would have gone on: bootstrap
        # from Q(s', o) where SMDP learning knows it (s' in I(o)).
        s_next = step.final_obs
        known = jnp.asarray(self.options.initiation.T)[s_next, option]
        cut = step.truncated & ~stops & known
        value = jnp.where(cut, q[s_next, option], self._best_next(q, s_next))
        not_terminal = 1.0 - step.terminated.astype(jnp.float32)
        target = reward + discount * not_terminal * value
        error = target - q[agent["start"], option]
        hit = ends[:, None] & (option[:, None] == jnp.arange(self.num_choices))
        delta = jnp.where(hit, (hparams.learning_rate * error)[:, None], 0.0)
        q = add_updates(q, agent["start"], delta, hit)
        return q, jnp.where(ends, jnp.abs(error), 0.0), ends.astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class IntraOptionQ(_OptionsLearner):
    """One-step intra-option Q-learning over `options` (module docstring):
    every step updates every option consistent with it."""

    def _learn(self, q, agent, step, stops, ends, reward, discount, hparams):
        _, policy, termination, domain = self._tables()
        s, s_next = step.obs, step.final_obs
        consistent = domain[s] & (policy[s] == step.action[:, None])  # [N, O]
        beta = termination[s_next]  # [N, O]
        best = self._best_next(q, s_next)[:, None]
        u = (1.0 - beta) * q[s_next] + beta * best
        not_terminal = 1.0 - step.terminated.astype(jnp.float32)
        target = step.reward[:, None] + hparams.gamma * not_terminal[:, None] * u
        error = jnp.where(consistent, target - q[s], 0.0)
        q = add_updates(q, s, hparams.learning_rate * error, consistent)
        td = jnp.sum(jnp.abs(error), axis=-1)
        return q, td, jnp.sum(consistent, axis=-1, dtype=jnp.int32)
