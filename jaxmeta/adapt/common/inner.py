"""The inner loop of gradient-based adaptation and its two kinds of step.

An inner step is an object with

    start(key, params, hparams, env_params) -> carry
    direction(key, params, carry, hparams, env_params, episodes=None)
        -> (direction, carry, episodes, stats)

`direction` is a pytree shaped like `params`; the step taken is
`params + lr * direction` (`apply_direction`). `episodes` given replays a
recorded batch instead of sampling one (TRPO's line search, exact tests);
steps that cannot replay return None for it. `stats` is a dict of [] arrays
(at least "return", the pre-step return).

- `PolicyGradientStep`: the built-in step of Finn et al. (2017): N fresh
  episodes of the current policy, a linear feature baseline fitted on them,
  the gradient of the DiCE objective (`second_order="dice"`: its derivative
  is an unbiased estimate of J's Hessian) or of the plain score surrogate
  (`"score"`); `stats["log_prob"]` is the batch's total log-probability,
  differentiable, for the full estimator's pre-update score term.
- `LearnerStep`: one `learner.update` from `carry.replace(params=params)`;
  the direction is the update's change of the params (the learner's own
  optimiser and learning rate: lr is 1).
"""

import dataclasses

import jax
import jax.numpy as jnp

from jaxmeta.adapt.common.episodes import (
    episode_log_prob,
    mean_return,
    sample_episodes,
)
from jaxmeta.adapt.common.surrogate import (
    baseline_values,
    dice_objective,
    score_surrogate,
)


def apply_direction(params, direction, lr, first_order: bool):
    """`params + lr * direction`; lr is a [] array or a pytree shaped like
    params (Meta-SGD). `first_order` stops the gradient through `direction`
    only, so a learned lr still gets its gradient (FOMAML + Meta-SGD)."""
    if first_order:
        direction = jax.lax.stop_gradient(direction)
    tree = jax.tree_util.tree_structure
    if tree(lr) == tree(params):
        return jax.tree_util.tree_map(lambda p, a, d: p + a * d, params, lr, direction)
    return jax.tree_util.tree_map(lambda p, d: p + lr * d, params, direction)


def inner_loop(
    key, params, lr, step, hparams, env_params, num_steps: int, first_order: bool,
    replay=None,
):  # fmt: skip
    """`num_steps` inner steps from `params` (a `lax.scan`, differentiable).

    replay: None (sample) or the episodes of a previous call, `[K, ...]`.
    Returns `(adapted_params, episodes [K, ...] or None, stats {name: [K]})`.
    """
    key_start, key_steps = jax.random.split(key)
    carry = step.start(key_start, params, hparams, env_params)

    def body(state, xs):
        params, carry = state
        key_step, episodes = xs
        direction, carry, episodes, stats = step.direction(
            key_step, params, carry, hparams, env_params, episodes
        )
        new_params = apply_direction(params, direction, lr, first_order)
        return (new_params, carry), (episodes, stats)

    keys = jax.random.split(key_steps, num_steps)
    (params, _), (episodes, stats) = jax.lax.scan(body, (params, carry), (keys, replay))
    return params, episodes, stats


@dataclasses.dataclass(frozen=True, eq=False)
class PolicyGradientStep:
    """REINFORCE with a per-task baseline on `num_episodes` episodes of at
    most `horizon` steps; `params["actor"]` are `actor`'s weights."""

    env: object
    head: object  # PolicyHead
    actor: object  # flax module
    num_episodes: int
    horizon: int
    baseline: str  # one of surrogate.BASELINES
    second_order: str = "dice"  # "dice" or "score": the objective's Hessian

    def sample(self, key, params, env_params):
        """Episodes `[horizon, num_episodes, ...]` of `params` on a task."""
        return sample_episodes(
            key, self.env, env_params, self.head, self.actor, params["actor"],
            self.num_episodes, self.horizon,
        )  # fmt: skip

    def log_prob(self, params, episodes):
        """[T, N] log-probabilities of the batch's actions under `params`."""
        return episode_log_prob(self.head, self.actor, params["actor"], episodes)

    def baseline_of(self, episodes, hparams):
        """[T, N] the baseline fitted on `episodes`."""
        return baseline_values(
            episodes, hparams.gamma, self.baseline, hparams.baseline_reg
        )

    def objective(self, params, episodes, hparams):
        """[] the inner objective on `episodes` (DiCE, or the score surrogate)."""
        baseline = self.baseline_of(episodes, hparams)
        log_prob = self.log_prob(params, episodes)
        surrogate = dice_objective if self.second_order == "dice" else score_surrogate
        return surrogate(log_prob, episodes, baseline, hparams.gamma)

    def start(self, key, params, hparams, env_params):
        return ()

    def direction(self, key, params, carry, hparams, env_params, episodes=None):
        """The policy gradient (ascent direction) on fresh or replayed episodes."""
        if episodes is None:
            episodes = self.sample(key, jax.lax.stop_gradient(params), env_params)
        grad = jax.grad(self.objective)(params, episodes, hparams)
        stats = {
            "return": mean_return(episodes),
            "log_prob": jnp.sum(self.log_prob(params, episodes)),
        }
        return grad, carry, episodes, stats


@dataclasses.dataclass(frozen=True, eq=False)
class LearnerStep:
    """One update of a registered learner whose update is differentiable in
    its params; its hparams are `hparams.learner_hparams`."""

    learner: object

    def start(self, key, params, hparams, env_params):
        """The learner's state on this task (fresh optimiser and envs); its
        params are replaced by the adapted ones at every step."""
        return self.learner.init(key, hparams.learner_hparams, env_params)

    def direction(self, key, params, carry, hparams, env_params, episodes=None):
        state, metrics = self.learner.update(
            key, carry.replace(params=params), hparams.learner_hparams, env_params
        )
        delta = jax.tree_util.tree_map(jnp.subtract, state.params, params)
        return delta, state, None, {"return": metrics["episode_return"]}
