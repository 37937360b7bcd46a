"""Tabular option-critic (Bacon, Harb and Precup 2017, Algorithm 1), with
the deliberation cost xi of Harb et al. 2018 in the termination gradient.

`num_options` options, each with a Boltzmann intra-option policy
pi_w(a | s) = softmax(z[s, w]) over logits z = theta / T (temperature T)
and a sigmoid termination beta_w(s) = sigmoid(v[s, w]); every option can
start everywhere. The policy over options is epsilon-greedy on Q_Omega,
ties broken at random. After each step (s, w, a, r, s'), with
beta' = beta_w(s') before this step's changes:

    g = r + gamma [(1 - beta') Q_Omega(s', w) + beta' max_u Q_Omega(s', u)]
    Q_Omega(s, w) += alpha (g - Q_Omega(s, w))       intra-option Q-learning
    Q_U(s, w, a)  += alpha (g - Q_U(s, w, a))        the critic of actions
    theta[s, w]   += alpha_theta (e_a - pi_w(. | s)) (Q_U(s, w, a) - Q_Omega(s, w))
    v[s', w]      -= alpha_beta beta' (1 - beta') (Q_Omega(s', w) - V(s') + xi)

with the critic's values after its update (Algorithm 1's order), V(s')
the expectation of Q_Omega(s', .) under the epsilon-greedy policy over
options (the termination gradient theorem's V_Omega), and Q_Omega(s, w)
the baseline of the intra-option gradient (the paper's baseline; its
variance-reducing role is in the ALE section). The policy step is the
gradient of log pi with respect to the logits theta / T, i.e. the
temperature is folded into alpha_theta (in the logits the stored table
moves by alpha_theta / T). A termination ends g at r and skips the
termination step (s' is absorbing); a time-limit truncation bootstraps
from the pre-reset s'. The running option then terminates with
probability beta', or with the episode, and a new one is drawn in the
state the next step acts in.

With `num_options = 1` this is the actor-critic over primitives of the
paper's comparison (AC-PG): V(s') = Q_Omega(s', w), so the termination
plays no part in the values and the actor is a Boltzmann policy with a
Q(s, a) critic and a V(s) baseline. Every table starts at zero, as in
the paper; the scaffolding (step loop, metrics, epsilon schedule over
episodes) is the tabular learners' (`learners/common/tabular_learner.py`).
"""

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

from jaxmeta.learners.base import check_positive_ints
from jaxmeta.learners.common.on_policy import float32_defaults
from jaxmeta.learners.common.tabular import (
    HPARAM_DOMAINS as TABULAR_DOMAINS,
)
from jaxmeta.learners.common.tabular import (
    add_updates,
    epsilon_at,
    epsilon_greedy_masked,
    epsilon_greedy_mean,
    greedy_masked,
    state_index,
    unit_float,
)
from jaxmeta.learners.common.tabular_learner import (
    TabularLearner,
    TabularState,
    init_carry,
)
from jaxmeta.learners.hierarchical.call_and_return import (
    call_and_return_step,
    option_carry_init,
    terminates,
)
from jaxmeta.validation import NONNEGATIVE, POSITIVE


@struct.dataclass
class OptionCriticHParams:
    # The paper's Four Rooms values (its authors' transfer command): critic
    # 0.5, intra-option 0.25, termination 0.25, epsilon 0.01, T = 0.001.
    learning_rate: jax.Array = 0.5  # alpha, the critic's (Q_Omega and Q_U)
    lr_intra: jax.Array = 0.25  # alpha_theta, intra-option policies
    lr_term: jax.Array = 0.25  # alpha_beta, terminations
    temperature: jax.Array = 0.001  # T of the Boltzmann intra-option policies
    xi: jax.Array = 0.0  # deliberation cost added to the advantage
    gamma: jax.Array = 0.99
    eps_start: jax.Array = 0.01  # epsilon-greedy policy over options
    eps_end: jax.Array = 0.01
    eps_decay_episodes: jax.Array = 0.0  # linear, in episodes per env


HPARAM_DOMAINS = {
    **TABULAR_DOMAINS,
    "lr_intra": POSITIVE,
    "lr_term": POSITIVE,
    "temperature": POSITIVE,
    "xi": NONNEGATIVE,
}


def sample_softmax(word, logits):
    """One draw from softmax(logits: [N, A]) per row, from uint32 `word: [N]`
    by inversion; int32 [N]."""
    cdf = jnp.cumsum(jax.nn.softmax(logits, axis=-1), axis=-1)
    u = unit_float(word)[:, None] * cdf[:, -1:]
    return jnp.minimum(jnp.sum(cdf <= u, axis=-1), logits.shape[-1] - 1).astype(
        jnp.int32
    )


@dataclasses.dataclass(frozen=True)
class OptionCritic(TabularLearner):
    """Static config of tabular option-critic: `TabularLearner`'s fields
    (`env` with Discrete state observations and actions, `num_envs x
    num_steps` steps per update, `record_episodes`) and `num_options`.
    Hyperparameters: `OptionCriticHParams` (all traced). params["q"] holds
    the tables {"q_omega": [S, O], "q_u": [S, O, A], "logits": [S, O, A]
    (theta / T), "term": [S, O] (termination logits)}."""

    num_options: int = 4

    hparam_domains = HPARAM_DOMAINS

    def __post_init__(self):
        check_positive_ints(num_options=self.num_options)
        self._check_tabular()

    @property
    def num_choices(self) -> int:
        return self.num_options

    def default_hparams(self) -> OptionCriticHParams:
        """The paper's Four Rooms values as float32 scalars."""
        return float32_defaults(OptionCriticHParams)

    def init_tables(self) -> dict:
        """Every table zero (the paper's initialisation): uniform
        intra-option policies, beta = 1/2 everywhere."""
        s, o, a = self.num_states, self.num_options, self.num_actions
        return {
            "q_omega": jnp.zeros((s, o), jnp.float32),
            "q_u": jnp.zeros((s, o, a), jnp.float32),
            "logits": jnp.zeros((s, o, a), jnp.float32),
            "term": jnp.zeros((s, o), jnp.float32),
        }

    def init(self, key, hparams: OptionCriticHParams, env_params) -> TabularState:
        """Zero tables, `num_envs` reset envs, each with an option drawn."""
        key_env, key_agent = jax.random.split(key)
        tables = self.init_tables()
        carry = init_carry(key_env, self.env, env_params, self.num_envs, {})
        epsilon = epsilon_at(hparams, jnp.int32(0), self.num_envs)
        words = jax.random.bits(key_agent, (self.num_envs, 2), jnp.uint32)
        option = self._pick(words, tables, carry.obs, epsilon)
        return TabularState(
            {"q": tables},
            carry.replace(agent={"option": option}),
            jnp.int32(0),
            jnp.asarray(epsilon, jnp.float32),
            jnp.int32(0),
            jnp.asarray(False),
        )

    def _pick(self, words, tables, s, epsilon):
        """Epsilon-greedy options [N] on Q_Omega(s: [N], .); words [N, 2]."""
        q = tables["q_omega"][s]
        return epsilon_greedy_masked(words, q, jnp.ones(q.shape, bool), epsilon)

    def _fns(self, hparams):
        def choose(words, tables, carry, epsilon):
            s, option = carry.obs, carry.agent["option"]
            return sample_softmax(words[:, 0], tables["logits"][s, option])

        def learn(words, tables, carry, step, epsilon):
            tables, td, beta = self.learn_step(
                tables, carry.agent, step, hparams, epsilon
            )
            stops = unit_float(words[:, 1]) < beta
            ends = stops | step.done
            new_option = self._pick(words[:, 2:], tables, step.next_obs, epsilon)
            option = jnp.where(ends, new_option, carry.agent["option"])
            return tables, {"option": option}, jnp.abs(td), jnp.ones_like(td)

        return choose, learn

    def learn_step(self, tables, agent, step, hparams, epsilon):
        """The module docstring's updates for one step of every env.

        tables: as `init_tables`; agent["option"]: [N] the running option;
        step: the transition (`tabular_learner.Step`, leaves [N]); epsilon
        [] the policy over options'. Returns `(tables, td [N], beta [N])`:
        td = g - Q_Omega(s, w) before the update, beta = beta_w(s')."""
        o_count, a_count = self.num_options, self.num_actions
        s, a, s_next = step.obs, step.action, step.final_obs
        w = agent["option"]
        rows = jnp.arange(s.shape[0])
        one_w = w[:, None] == jnp.arange(o_count)  # [N, O]
        wa = w * a_count + a  # the (option, action) column of [S, O * A]
        one_wa = wa[:, None] == jnp.arange(o_count * a_count)  # [N, O * A]
        block = jnp.repeat(one_w, a_count, axis=1)  # [N, O * A], option w's row

        beta = jax.nn.sigmoid(tables["term"][s_next, w])
        q_next = tables["q_omega"][s_next]  # [N, O]
        u = (1.0 - beta) * q_next[rows, w] + beta * jnp.max(q_next, axis=-1)
        not_terminal = 1.0 - step.terminated.astype(jnp.float32)
        target = step.reward + hparams.gamma * not_terminal * u
        alpha = hparams.learning_rate

        td = target - tables["q_omega"][s, w]
        q_omega = add_updates(
            tables["q_omega"], s, jnp.where(one_w, (alpha * td)[:, None], 0.0), one_w
        )
        flat = (self.num_states, o_count * a_count)
        td_u = target - tables["q_u"][s, w, a]
        q_u = add_updates(
            tables["q_u"].reshape(flat),
            s,
            jnp.where(one_wa, (alpha * td_u)[:, None], 0.0),
            one_wa,
        ).reshape(tables["q_u"].shape)

        # Actor, on the critic just updated.
        feedback = q_u[s, w, a] - q_omega[s, w]
        logits = tables["logits"][s, w]  # [N, A]
        grad = jax.nn.one_hot(a, a_count) - jax.nn.softmax(logits, axis=-1)
        step_size = hparams.lr_intra / hparams.temperature
        delta = (
            jnp.zeros((s.shape[0], o_count, a_count))
            .at[rows, w]
            .set(step_size * grad * feedback[:, None])
        )
        new_logits = add_updates(
            tables["logits"].reshape(flat),
            s,
            delta.reshape(-1, o_count * a_count),
            block,
        ).reshape(tables["logits"].shape)

        values = q_omega[s_next]  # [N, O]
        mean = epsilon_greedy_mean(values, jnp.ones(values.shape, bool), epsilon)
        advantage = values[rows, w] - mean + hparams.xi
        d_term = -hparams.lr_term * beta * (1.0 - beta) * advantage
        hit = one_w & ~step.terminated[:, None]
        term = add_updates(
            tables["term"], s_next, jnp.where(hit, d_term[:, None], 0.0), hit
        )
        tables = {"q_omega": q_omega, "q_u": q_u, "logits": new_logits, "term": term}
        return tables, td, beta

    def act(self, key, state: TabularState, obs, deterministic: bool = False):
        """Actions `[N]` for state indices `obs: [N]` (or `[N, 1]`): an option
        picked anew in each state (epsilon-greedy with the state's epsilon,
        or the first greedy one), then its policy's action (a draw, or its
        most likely action when `deterministic`)."""
        s = state_index(obs)
        tables = state.params["q"]
        key_option, key_action = jax.random.split(key)
        q = tables["q_omega"][s]
        if deterministic:
            option = greedy_masked(q, jnp.ones(q.shape, bool))
            return jnp.argmax(tables["logits"][s, option], axis=-1).astype(jnp.int32)
        words = jax.random.bits(key_option, (s.shape[0], 2), jnp.uint32)
        option = self._pick(words, tables, s, state.epsilon)
        word = jax.random.bits(key_action, (s.shape[0],), jnp.uint32)
        return sample_softmax(word, tables["logits"][s, option])

    def act_init(self, state: TabularState, obs):
        """No option running before the first step of episodes `obs: [N]`."""
        del state
        return option_carry_init(obs.shape[0])

    def act_step(self, key, state: TabularState, carry, obs, deterministic=False):
        """`(actions [N], carry)` by call-and-return execution (`act`'s
        option and action choices, the options' own terminations)."""
        s = state_index(obs)
        tables = state.params["q"]

        def pick(key):
            q = tables["q_omega"][s]
            if deterministic:
                return greedy_masked(q, jnp.ones(q.shape, bool))
            words = jax.random.bits(key, (s.shape[0], 2), jnp.uint32)
            return self._pick(words, tables, s, state.epsilon)

        def act_of(key, option):
            logits = tables["logits"][s, option]
            if deterministic:
                return jnp.argmax(logits, axis=-1).astype(jnp.int32)
            return sample_softmax(jax.random.bits(key, (s.shape[0],), jnp.uint32),
                                  logits)  # fmt: skip

        beta_of = lambda option: jax.nn.sigmoid(tables["term"][s, option])  # noqa: E731
        return call_and_return_step(key, carry, terminates(beta_of), pick, act_of)

    def termination_probabilities(self, state: TabularState):
        """beta_w(s) of every state and option: [S, O] float32."""
        return jax.nn.sigmoid(state.params["q"]["term"])
