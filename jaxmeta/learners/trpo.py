"""Trust Region Policy Optimization (Schulman et al. 2015) and xTRPO
(Occorso et al., seeds/002).

Each update: one rollout, GAE(lambda) advantages with a fitted value
baseline, the natural gradient by conjugate gradient on Fisher-vector
products (the jvp of the mean KL's gradient, plus damping), a step scaled to
the KL bound `max_kl`, and a backtracking line search over `line_search_steps`
fractions of it. TRPO accepts the first fraction whose mean KL(old || new) is
at most max_kl and whose surrogate improves; xTRPO (`variant="xtrpo"`)
accepts the first whose KL is within the bound, improvement or not: it only
shrinks to satisfy the trust region. No fraction acceptable: no step.

Every loop is a `lax.scan` or a batched evaluation with masks (no
while_loop), so it vmaps and differentiates; `max_kl` is a traced hparam (a
controller sets it per update). Policies: a diagonal Gaussian (or categorical)
over an MLP with `len(hidden)` <= 3 hidden layers, `hidden=()` being linear;
the value function has its own `critic_hidden`, fitted by `vf_iters` Adam
steps per update.
"""

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax.flatten_util import ravel_pytree

from jaxmeta.learners.base import check_positive_ints
from jaxmeta.learners.common.on_policy import (
    OnPolicyLearner,
    OnPolicyState,
    check_linear_or_mlp,
    checked_hidden,
    float32_defaults,
)
from jaxmeta.nets.mlp import Critic, check_activation
from jaxmeta.validation import POSITIVE, Domain

VARIANTS = ("trpo", "xtrpo")


@struct.dataclass
class TRPOHParams:
    max_kl: jax.Array = 0.01
    gamma: jax.Array = 0.99
    gae_lambda: jax.Array = 0.97
    cg_damping: jax.Array = 0.1
    vf_learning_rate: jax.Array = 1e-3


def weighted_mean(values, weight):
    """sum(weight * values) / sum(weight) over all entries (weight: same shape,
    0 for padding)."""
    return jnp.sum(weight * values) / jnp.maximum(jnp.sum(weight), 1e-8)


def conjugate_gradient(matvec, b, iterations: int):
    """Solve A x = b for symmetric positive-definite A given as `matvec`,
    `iterations` CG steps from x = 0 (frozen once the residual vanishes).
    b: [n]. Returns x [n]."""

    def step(carry, _):
        x, r, p, rr = carry
        ap = matvec(p)
        alive = rr > 1e-10
        alpha = jnp.where(alive, rr / jnp.maximum(p @ ap, 1e-12), 0.0)
        x, r = x + alpha * p, r - alpha * ap
        rr_new = r @ r
        beta = jnp.where(alive, rr_new / jnp.maximum(rr, 1e-12), 0.0)
        return (x, r, r + beta * p, rr_new), None

    init = (jnp.zeros_like(b), b, b, b @ b)
    (x, *_), _ = jax.lax.scan(step, init, None, length=iterations)
    return x


@dataclasses.dataclass(frozen=True)
class TRPO(OnPolicyLearner):
    """Static TRPO / xTRPO config; see `OnPolicyLearner` for the rollout."""

    num_steps: int = 256
    variant: str = "trpo"
    cg_iters: int = 10
    line_search_steps: int = 10
    backtrack_ratio: float = 0.5
    vf_iters: int = 5
    critic_hidden: tuple[int, ...] = (64, 64)
    normalize_advantages: bool = True
    bootstrap_truncation: bool = True

    hparam_domains = {
        "max_kl": POSITIVE,
        "gamma": Domain(0.0, 1.0),
        "gae_lambda": Domain(0.0, 1.0),
        "cg_damping": POSITIVE,
        "vf_learning_rate": POSITIVE,
    }

    def __post_init__(self):
        check_positive_ints(
            num_envs=self.num_envs,
            num_steps=self.num_steps,
            cg_iters=self.cg_iters,
            line_search_steps=self.line_search_steps,
            vf_iters=self.vf_iters,
        )
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        check_activation(self.activation)
        object.__setattr__(self, "hidden", check_linear_or_mlp(self.hidden))
        critic = checked_hidden(self.critic_hidden, self.activation)
        object.__setattr__(self, "critic_hidden", critic)
        if not 0 < self.backtrack_ratio < 1:
            raise ValueError(
                f"backtrack_ratio must lie in (0, 1), got {self.backtrack_ratio!r}"
            )

    def _critic(self):
        return Critic(self.critic_hidden, self.activation)

    def _critic_optimizer(self, hparams):
        return optax.adam(hparams.vf_learning_rate)

    def default_hparams(self) -> TRPOHParams:
        return float32_defaults(TRPOHParams)

    def init(self, key, hparams: TRPOHParams, env_params) -> OnPolicyState:
        """Actor, critic, the critic's Adam state and `num_envs` reset envs."""
        state = self._initial_state(
            key, env_params, True, self._critic_optimizer(hparams)
        )
        return state.replace(
            opt_state=self._critic_optimizer(hparams).init(state.params["critic"])
        )

    def _batch(self, state, traj, env, hparams, valid=None):
        """`_gae_batch` with advantages normalised over the valid steps."""
        batch = self._gae_batch(state, traj, env, hparams, valid)
        if self.normalize_advantages:
            # Reduced in the rollout's [T, N] shape (same sums as before).
            shape = traj.reward.shape
            advantage = batch["advantage"].reshape(shape)
            weight = batch["weight"].reshape(shape)
            mean = weighted_mean(advantage, weight)
            std = jnp.sqrt(weighted_mean((advantage - mean) ** 2, weight))
            batch["advantage"] = ((advantage - mean) / (std + 1e-8)).reshape(-1)
        return batch

    def policy_step(self, actor_params, batch, hparams):
        """The natural-gradient step with its line search.

        Returns `(new_actor_params, info)`: info holds the accepted step's
        mean KL, its fraction of the full step (0: no step), the surrogate
        improvement and whether any fraction was acceptable.
        """
        actor, head = self._actor(), self.head
        flat, unravel = ravel_pytree(actor_params)
        old_out = jax.lax.stop_gradient(actor.apply(actor_params, batch["obs"]))

        def surrogate(x):
            logp = head.log_prob(actor.apply(unravel(x), batch["obs"]), batch["action"])
            ratio = jnp.exp(logp - batch["log_prob"])
            return weighted_mean(ratio * batch["advantage"], batch["weight"])

        def mean_kl(x):
            kl = head.kl(old_out, actor.apply(unravel(x), batch["obs"]))
            return weighted_mean(kl, batch["weight"])

        grad = jax.grad(surrogate)(flat)
        kl_grad = jax.grad(mean_kl)

        def fisher_vector(v):
            return jax.jvp(kl_grad, (flat,), (v,))[1] + hparams.cg_damping * v

        direction = conjugate_gradient(fisher_vector, grad, self.cg_iters)
        curvature = jnp.maximum(direction @ fisher_vector(direction), 1e-12)
        full_step = jnp.sqrt(2.0 * hparams.max_kl / curvature) * direction
        fractions = self.backtrack_ratio ** jnp.arange(self.line_search_steps)
        candidates = flat + fractions[:, None] * full_step
        kls = jax.vmap(mean_kl)(candidates)
        improvement = jax.vmap(surrogate)(candidates) - surrogate(flat)
        ok = jnp.isfinite(kls) & (kls <= hparams.max_kl)
        if self.variant == "trpo":
            ok = ok & (improvement > 0)
        first = jnp.argmax(ok)
        found = ok.any()
        new_flat = jnp.where(found, candidates[first], flat)
        info = {
            "kl": jnp.where(found, kls[first], 0.0),
            "step_fraction": jnp.where(found, fractions[first], 0.0),
            "surrogate_improvement": jnp.where(found, improvement[first], 0.0),
            "accepted": found.astype(jnp.float32),
        }
        return unravel(new_flat), info

    def update(self, key, state: OnPolicyState, hparams: TRPOHParams, env_params):
        """One rollout, one natural-gradient step, `vf_iters` critic steps.

        Returns `(state, metrics)`: the metrics of `_finish_update` with
        `train/kl` (the accepted step's mean KL, <= max_kl), `train/step_fraction`,
        `train/surrogate_improvement`, `train/accepted`, `train/value_loss`
        and `train/entropy`.
        """
        env, traj, stats = self._rollout(key, state, env_params, True)
        batch = self._batch(state, traj, env, hparams)
        params, opt_state, losses = self.step_on_batch(state, batch, hparams)
        return self._finish_update(state, params, opt_state, env, stats, losses)

    def step_on_batch(self, state, batch: dict, hparams: TRPOHParams):
        """The policy step and the critic fit on one batch (from `_batch`).
        Returns `(params, critic_opt_state, losses)`."""
        actor_params, info = self.policy_step(state.params["actor"], batch, hparams)
        critic, tx = self._critic(), self._critic_optimizer(hparams)

        def value_loss(params):
            error = critic.apply(params, batch["obs"]) - batch["target"]
            return 0.5 * weighted_mean(error**2, batch["weight"])

        def critic_step(carry, _):
            params, opt_state = carry
            loss, grads = jax.value_and_grad(value_loss)(params)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (critic_params, opt_state), losses = jax.lax.scan(
            critic_step, (state.params["critic"], state.opt_state), None, self.vf_iters
        )
        entropy = self.head.entropy(self._actor().apply(actor_params, batch["obs"]))
        params = {"actor": actor_params, "critic": critic_params}
        losses = {
            **info,
            "value_loss": losses[-1],
            "entropy": weighted_mean(entropy, batch["weight"]),
        }
        return params, opt_state, losses
