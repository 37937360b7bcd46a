"""Option-critic with a network (A2OC: Harb, Bacon, Klissarov and Precup
2018, the advantage-actor-critic form of Bacon et al. 2017), with their
deliberation cost xi.

One network: a shared MLP torso, an option-value head Q(s, .) [O],
per-option softmax policy heads pi_w(. | s) [O, A] and sigmoid
termination heads beta_w(s) [O]. `num_envs` auto-resetting envs run
`num_steps` steps an update; each env keeps its running option, which
after every step terminates with probability beta_w(s') (or with the
episode); a new one is then drawn epsilon-greedily on Q(s', .).

The n-step return of step t bootstraps at the rollout's end, and at a
time-limit truncation, from U(s', w) = (1 - beta_w(s')) Q(s', w) +
beta_w(s') max_u Q(s', u), and stops at a termination. One gradient
step (clipped Adam) on

    vf_coef * 0.5 (G_t - Q(s_t, w_t))^2
    - log pi_w(a_t | s_t) sg(G_t - Q(s_t, w_t)) - ent_coef H(pi_w(. | s_t))
    + beta_w(s'_t) sg(Q(s'_t, w_t) - V(s'_t) + xi)      (s'_t not terminal)

averaged over the batch, V the expectation of Q under the epsilon-greedy
policy over options (as the tabular `option_critic.py`), Q(s_t, w_t)
the baseline of the intra-option gradient.
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxmeta.learners.base import check_positive_ints
from jaxmeta.learners.common.finish import finish_update
from jaxmeta.learners.common.on_policy import (
    OnPolicyLearner,
    clipped_adam,
    float32_defaults,
)
from jaxmeta.learners.common.q_learning import epsilon_greedy, q_of
from jaxmeta.learners.common.rollout import EnvCarry, init_env_carry
from jaxmeta.learners.hierarchical.call_and_return import (
    call_and_return_step,
    option_carry_init,
    terminates,
)
from jaxmeta.nets.mlp import MLP
from jaxmeta.validation import NONNEGATIVE, POSITIVE, Domain

ADAM_EPS = 1e-5


@struct.dataclass
class OptionCriticNetHParams:
    learning_rate: jax.Array = 7e-4
    gamma: jax.Array = 0.99
    ent_coef: jax.Array = 0.01
    vf_coef: jax.Array = 0.5
    term_coef: jax.Array = 1.0  # weight of the termination loss
    xi: jax.Array = 0.01  # deliberation cost
    epsilon: jax.Array = 0.05  # epsilon-greedy policy over options
    max_grad_norm: jax.Array = 0.5


HPARAM_DOMAINS = {
    "learning_rate": POSITIVE,
    "gamma": Domain(0.0, 1.0),
    "ent_coef": NONNEGATIVE,
    "vf_coef": NONNEGATIVE,
    "term_coef": NONNEGATIVE,
    "xi": NONNEGATIVE,
    "epsilon": Domain(0.0, 1.0),
    "max_grad_norm": POSITIVE,
}


class OptionCriticNetwork(nn.Module):
    """obs [..., obs_dim] -> (q [..., O], logits [..., O, A], term [..., O]
    termination logits), from one shared torso."""

    num_options: int
    num_actions: int
    hidden: tuple[int, ...]
    activation: str = "tanh"

    @nn.compact
    def __call__(self, obs):
        x = MLP(self.hidden, None, self.activation)(obs)
        dense = lambda n, scale: nn.Dense(  # noqa: E731
            n, kernel_init=nn.initializers.orthogonal(scale)
        )
        q = dense(self.num_options, 1.0)(x)
        logits = dense(self.num_options * self.num_actions, 0.01)(x)
        term = dense(self.num_options, 0.01)(x)
        shape = logits.shape[:-1] + (self.num_options, self.num_actions)
        return q, logits.reshape(shape), term


@struct.dataclass
class OptionCriticNetState:
    params: dict  # {"net": ...}
    opt_state: optax.OptState
    env: EnvCarry
    option: jax.Array  # [N] int32, each env's running option
    epsilon: jax.Array  # [] float32, the latest update's (what `act` uses)
    update_count: jax.Array  # [] int32
    diverged: jax.Array  # [] bool


def _at(x, option):
    """x [..., O] at option [...] (int): [...]."""
    return jnp.sum(x * jax.nn.one_hot(option, x.shape[-1], dtype=x.dtype), -1)


def _policy_of(logits, option):
    """logits [..., O, A] of option [...] (int): [..., A]."""
    one_hot = jax.nn.one_hot(option, logits.shape[-2], dtype=logits.dtype)
    return jnp.sum(logits * one_hot[..., None], -2)


@dataclasses.dataclass(frozen=True)
class OptionCriticNet(OnPolicyLearner):
    """Static config: `OnPolicyLearner`'s (env with discrete actions,
    `num_envs x num_steps` per update, torso `hidden` and `activation`) and
    `num_options`. Hyperparameters: `OptionCriticNetHParams` (traced)."""

    num_envs: int = 8
    num_steps: int = 16
    num_options: int = 4

    hparam_domains = HPARAM_DOMAINS

    def __post_init__(self):
        check_positive_ints(num_options=self.num_options)
        super().__post_init__()
        if not self.head.discrete:
            raise ValueError(
                f"OptionCriticNet needs discrete actions; "
                f"{getattr(self.env, 'name', self.env)} has Box actions"
            )
        if self.normalize_obs:
            raise ValueError("OptionCriticNet supports normalize_obs=False only")

    def default_hparams(self) -> OptionCriticNetHParams:
        return float32_defaults(OptionCriticNetHParams)

    def _net(self):
        return OptionCriticNetwork(
            self.num_options, self.head.action_dim, self.hidden, self.activation
        )

    def init(self, key, hparams, env_params) -> OptionCriticNetState:
        """Network, Adam state, `num_envs` reset envs, each with an option."""
        key_net, key_env, key_option = jax.random.split(key, 3)
        env = init_env_carry(key_env, self.env, env_params, self.num_envs, self.head)
        params = {"net": self._net().init(key_net, env.obs[:1])}
        q, _, _ = self._net().apply(params["net"], env.obs)
        option = epsilon_greedy(key_option, q, hparams.epsilon).astype(jnp.int32)
        return OptionCriticNetState(
            params, clipped_adam(hparams, ADAM_EPS).init(params), env, option,
            jnp.asarray(hparams.epsilon, jnp.float32), jnp.int32(0),
            jnp.asarray(False),
        )  # fmt: skip

    def _rollout(self, key, state, hparams, env_params):
        net, params = self._net(), state.params["net"]
        num_envs = self.num_envs

        def step(carry, key):
            env, option = carry
            key_act, key_env, key_stop, key_pick = jax.random.split(key, 4)
            _, logits, _ = net.apply(params, env.obs)
            action = jax.random.categorical(key_act, _policy_of(logits, option))
            keys = jax.random.split(key_env, num_envs)
            obs, env_state, reward, terminated, truncated, info = jax.vmap(
                self.env.step, in_axes=(0, 0, 0, None)
            )(keys, env.env_state, action, env_params)
            obs = obs.reshape(num_envs, -1).astype(jnp.float32)
            final = info["final_observation"].reshape(num_envs, -1)
            reward = reward.astype(jnp.float32)
            done = terminated | truncated
            q_next, _, term_next = net.apply(params, obs)
            beta = jax.nn.sigmoid(_at(term_next, option))
            ends = (jax.random.uniform(key_stop, (num_envs,)) < beta) | done
            new = epsilon_greedy(key_pick, q_next, hparams.epsilon).astype(jnp.int32)
            ret, length = env.episode_return + reward, env.episode_length + 1
            env = env.replace(
                obs=obs, env_state=env_state,
                episode_return=jnp.where(done, 0.0, ret),
                episode_length=jnp.where(done, 0.0, length),
            )  # fmt: skip
            out = {
                "obs": carry[0].obs, "option": option, "action": action,
                "reward": reward, "final_obs": final.astype(jnp.float32),
                "terminated": terminated, "done": done, "ret": ret,
                "length": length,
                "finite": jnp.all(jnp.isfinite(reward)) & jnp.all(jnp.isfinite(obs)),
            }  # fmt: skip
            return (env, jnp.where(ends, new, option)), out

        keys = jax.random.split(key, self.num_steps)
        (env, option), traj = jax.lax.scan(step, (state.env, state.option), keys)
        return env, option, traj

    def _loss(self, params, traj, hparams):
        net = self._net()
        q, logits, _ = net.apply(params["net"], traj["obs"])  # [T, N, ...]
        q_next, _, term_next = net.apply(params["net"], traj["final_obs"])
        option = traj["option"]
        beta_next = jax.nn.sigmoid(_at(term_next, option))
        q_cont = _at(q_next, option)
        # Bootstrap value U(s', w) of every step; used at the rollout's end
        # and at truncations, never past a termination.
        u = (1.0 - beta_next) * q_cont + beta_next * jnp.max(q_next, -1)
        u = jax.lax.stop_gradient(u)
        not_term = 1.0 - traj["terminated"].astype(jnp.float32)
        cut = traj["done"].at[-1].set(True)

        def back(later, xs):
            r, nt, c, boot = xs
            g = r + hparams.gamma * nt * jnp.where(c, boot, later)
            return g, g

        _, returns = jax.lax.scan(
            back, u[-1], (traj["reward"], not_term, cut, u), reverse=True
        )
        value = _at(q, option)
        advantage = jax.lax.stop_gradient(returns - value)
        log_pi = jax.nn.log_softmax(_policy_of(logits, option))
        log_prob = q_of(log_pi, traj["action"])
        entropy = -jnp.sum(jnp.exp(log_pi) * log_pi, -1).mean()
        policy_loss = -(log_prob * advantage).mean()
        value_loss = 0.5 * ((returns - value) ** 2).mean()
        num = q_next.shape[-1]
        v_next = (1.0 - hparams.epsilon) * jnp.max(q_next, -1) + hparams.epsilon * (
            jnp.sum(q_next, -1) / num
        )
        term_adv = jax.lax.stop_gradient(q_cont - v_next + hparams.xi)
        term_loss = (beta_next * term_adv * not_term).mean()
        loss = (
            policy_loss
            - hparams.ent_coef * entropy
            + hparams.vf_coef * value_loss
            + hparams.term_coef * term_loss
        )
        return loss, {
            "policy_loss": policy_loss, "value_loss": value_loss,
            "entropy": entropy, "termination_loss": term_loss,
            "termination": beta_next.mean(),
        }  # fmt: skip

    def update(self, key, state: OptionCriticNetState, hparams, env_params):
        """One rollout, one gradient step. Metrics: `finish_update`'s and
        `train/policy_loss`, `value_loss`, `entropy`, `termination_loss`,
        `termination` (mean beta_w(s') over the batch)."""
        env, option, traj = self._rollout(key, state, hparams, env_params)
        grads, losses = jax.grad(self._loss, has_aux=True)(state.params, traj, hparams)
        tx = clipped_adam(hparams, ADAM_EPS)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        done = traj["done"].astype(jnp.float32)
        count = done.sum()
        safe = jnp.maximum(count, 1.0)
        stats = {
            "env_finite": jnp.all(traj["finite"]),
            "episode_return": jnp.where(
                count > 0, (traj["ret"] * done).sum() / safe, np.nan
            ),
            "episodes": count,
            "episode_length": jnp.where(
                count > 0, (traj["length"] * done).sum() / safe, np.nan
            ),
        }
        new_state = OptionCriticNetState(
            params, opt_state, env, option, jnp.asarray(hparams.epsilon, jnp.float32),
            state.update_count + 1, state.diverged,
        )  # fmt: skip
        return finish_update(state, new_state, stats, losses, self.steps_per_update)

    def act(self, key, state: OptionCriticNetState, obs, deterministic: bool = False):
        """Actions [N] for obs [N, obs_dim]: an option picked anew in each
        state (epsilon-greedy with the state's epsilon, or greedy), then its
        policy's draw (or most likely action)."""
        obs = jnp.reshape(obs, (obs.shape[0], -1)).astype(jnp.float32)
        q, logits, _ = self._net().apply(state.params["net"], obs)
        key_option, key_action = jax.random.split(key)
        if deterministic:
            option = jnp.argmax(q, -1)
            return jnp.argmax(_policy_of(logits, option), -1).astype(jnp.int32)
        option = epsilon_greedy(key_option, q, state.epsilon)
        logits = _policy_of(logits, option)
        return jax.random.categorical(key_action, logits).astype(jnp.int32)

    def act_init(self, state: OptionCriticNetState, obs):
        """No option running before the first step of episodes `obs`."""
        del state
        return option_carry_init(obs.shape[0])

    def act_step(self, key, state: OptionCriticNetState, carry, obs,
                    deterministic=False):  # fmt: skip
        """`(actions [N], carry)` by call-and-return execution (`act`'s
        option and action choices, the options' own terminations)."""
        obs = jnp.reshape(obs, (obs.shape[0], -1)).astype(jnp.float32)
        q, logits, term = self._net().apply(state.params["net"], obs)

        def pick(key):
            if deterministic:
                return jnp.argmax(q, -1)
            return epsilon_greedy(key, q, state.epsilon)

        def act_of(key, option):
            chosen = _policy_of(logits, option)
            if deterministic:
                return jnp.argmax(chosen, -1).astype(jnp.int32)
            return jax.random.categorical(key, chosen).astype(jnp.int32)

        beta_of = lambda option: jax.nn.sigmoid(_at(term, option))  # noqa: E731
        return call_and_return_step(key, carry, terminates(beta_of), pick, act_of)
