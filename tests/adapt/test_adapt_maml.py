"""MAML's meta-gradient is the one it claims to be.

On a two-step MDP small enough to enumerate every batch of episodes:
- the "full" estimator's second-order meta-gradient, in expectation, equals
  a central finite difference of the exact objective E_D[J(adapted(D))]
  (tolerance FD_TOL); FOMAML's and "maml-rl"'s do not;
- the "dice" inner step is unbiased to second order: E[direction] = grad J
  and E[d direction / d params] = Hessian of J, exactly; the plain
  surrogate's ("maml-rl") Jacobian is not.
Elsewhere:
- On a quadratic, FOMAML's meta-gradient differs from MAML's by exactly the
  Hessian term, -lr * A * grad (one and two inner steps); FOMAML with
  Meta-SGD still gets the rates' gradient.
- The meta-batch vmapped over tasks equals the per-task loop (two inner
  steps, Meta-SGD).
The other parts (TRPO, surrogates, baseline, tasks, config checks) are in
test_adapt_maml_parts.py.
"""

from dataclasses import dataclass
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct
from gymnax.environments import environment, spaces
from jax.flatten_util import ravel_pytree

from jaxmeta.adapt import make_adapter
from jaxmeta.adapt.common.episodes import Episodes
from jaxmeta.adapt.common.inner import inner_loop
from jaxmeta.adapt.common.tasks import sample_meta_batch
from jaxmeta.envs import make
from jaxmeta.envs.tasks import Domain, TaskDistribution

FD_TOL = 5e-5  # |E[estimate] . v - finite difference|, float32, eps = 1e-2
REWARD = jnp.array([[1.0, 0.0], [0.0, 2.0], [1.5, 0.5]])  # [state, action]
GAMMA = 0.9


@struct.dataclass
class TwoStepState(environment.EnvState):
    s: jax.Array


@struct.dataclass
class TwoStepParams(environment.EnvParams):
    bonus: jax.Array = 0.0  # added to the reward of action 1
    max_steps_in_episode: int = 2


class TwoStepMDP(environment.Environment):
    """State 0, then state 1 + a_0; two steps; observation one-hot [3]."""

    @property
    def default_params(self):
        return TwoStepParams()

    def step_env(self, key, state, action, params):
        reward = REWARD[state.s, action] + params.bonus * action
        s = jnp.where(state.time == 0, 1 + action, state.s)
        new = TwoStepState(time=state.time + 1, s=s)
        return self.get_obs(new), new, reward, new.time >= 2, {}

    def reset_env(self, key, params):
        state = TwoStepState(time=0, s=jnp.asarray(0))
        return self.get_obs(state), state

    def get_obs(self, state, params=None, key=None):
        return jax.nn.one_hot(state.s, 3)

    @property
    def name(self):
        return "TwoStepMDP"

    def action_space(self, params=None):
        return spaces.Discrete(2)

    def observation_space(self, params=None):
        return spaces.Box(0.0, 1.0, (3,), jnp.float32)


@dataclass(frozen=True)
class TwoStepTasks(TaskDistribution):
    bonus: tuple[float, float] = (-0.5, 0.5)
    base_params: Any = None
    domains: ClassVar[dict[str, Domain]] = {"bonus": Domain()}

    def default_base_params(self):
        return TwoStepParams()


SEQUENCES = jnp.array([[0, 0], [0, 1], [1, 0], [1, 1]])  # (a_0, a_1)
BATCHES = jnp.array([[i, j] for i in range(4) for j in range(4)])  # N = 2


def _episode(actions, bonus):
    states = jnp.array([0, 1 + actions[0]])
    reward = REWARD[states, actions] + bonus * actions
    return jax.nn.one_hot(states, 3), reward


def _log_probs(adapter, params, obs, actions):
    logits = adapter.actor.apply(params["actor"], obs)
    return jnp.take_along_axis(jax.nn.log_softmax(logits), actions[..., None], -1)[
        ..., 0
    ]


def _batch(adapter, params, which, bonus):
    """The batch of episodes SEQUENCES[which] ([N]), leaves [T=2, N, ...]."""
    actions = SEQUENCES[which]
    obs, reward = jax.vmap(_episode, in_axes=(0, None))(actions, bonus)
    log_prob = _log_probs(adapter, params, obs, actions)
    swap = lambda x: jnp.swapaxes(x, 0, 1)  # noqa: E731
    return Episodes(
        swap(obs), swap(actions), swap(reward), jnp.ones((2, 2)), swap(log_prob)
    )


def _probability(batch):
    return jnp.exp(jnp.sum(batch.log_prob))


def _exact_return(adapter, params, bonus):
    """E[r_0 + gamma r_1] of the policy `params`."""
    obs, reward = jax.vmap(_episode, in_axes=(0, None))(SEQUENCES, bonus)
    log_prob = _log_probs(adapter, params, obs, SEQUENCES).sum(-1)
    return jnp.sum(jnp.exp(log_prob) * (reward[:, 0] + GAMMA * reward[:, 1]))


def _replay(inner, outer, tasks=True):
    """Recorded batches as `replay`: inner [M, K, ...] and outer [M, ...]
    (without the task axis M for `task_objective`)."""
    lead = (None,) if tasks else ()
    return (
        jax.tree_util.tree_map(lambda x: x[lead + (None,)], inner),
        jax.tree_util.tree_map(lambda x: x[lead] if tasks else x, outer),
    )


def _adapted(adapter, meta, hparams, task, inner):
    _, aux = adapter.task_objective(
        jax.random.key(0), meta, hparams, task, _replay(inner, inner, tasks=False)
    )
    return aux["adapted"]


def _expected_gradient(adapter, meta, hparams, task):
    """E over every (inner, outer) batch of the estimate's gradient."""
    tasks = jax.tree_util.tree_map(lambda x: jnp.asarray(x)[None], task)

    def estimate(inner, outer):
        def objective(m):
            return adapter.meta_objective(
                jax.random.key(0), m, hparams, tasks, _replay(inner, outer)
            )[0]

        return jax.grad(objective)(meta)

    def given_inner(which):
        inner = _batch(adapter, meta[0], which, task.bonus)
        adapted = _adapted(adapter, meta, hparams, task, inner)
        outers = jax.vmap(lambda w: _batch(adapter, adapted, w, task.bonus))(BATCHES)
        weights = jax.vmap(_probability)(outers)
        grads = jax.vmap(lambda o: estimate(inner, o))(outers)
        return _probability(inner), jax.tree_util.tree_map(
            lambda g: jnp.tensordot(weights, g, 1), grads
        )

    weights, grads = jax.vmap(given_inner)(BATCHES)
    return jax.tree_util.tree_map(lambda g: jnp.tensordot(weights, g, 1), grads)


def _exact_objective(adapter, meta, hparams, task):
    """E_D[J(adapted(meta, D))] / T, every inner batch D weighted by its
    probability under meta's params."""

    def given_inner(which):
        inner = _batch(adapter, meta[0], which, task.bonus)
        adapted = _adapted(adapter, meta, hparams, task, inner)
        exact = _exact_return(adapter, adapted, task.bonus) / 2.0
        return _probability(inner) * exact

    return jnp.sum(jax.vmap(given_inner)(BATCHES))


def _two_step_adapter(name="maml", **config):
    return make_adapter(
        name, TwoStepMDP(), tasks=TwoStepTasks(), hidden=(), activation="tanh",
        num_episodes=2, horizon=2, meta_batch_size=1, baseline="none", **config,
    )  # fmt: skip


def _start(adapter):
    hparams = adapter.default_hparams().replace(
        inner_lr=jnp.float32(0.5), gamma=jnp.float32(GAMMA)
    )
    state = adapter.init(jax.random.key(0), hparams)
    flat, unravel = ravel_pytree(state.params)
    noise = 0.7 * jax.random.normal(jax.random.key(1), flat.shape)
    return (unravel(flat + noise), ()), hparams, TwoStepParams(bonus=jnp.float32(0.3))


DIRECTIONS = 3


def _directions(size):
    directions = jax.random.normal(jax.random.key(2), (DIRECTIONS, size))
    return directions / jnp.linalg.norm(directions, axis=1, keepdims=True)


def _expected_directional(adapter, meta, hparams, task):
    """E[gradient estimate] . v for the DIRECTIONS random unit vectors v."""
    expected = jax.jit(_expected_gradient, static_argnums=0)(
        adapter, meta, hparams, task
    )
    flat = ravel_pytree(expected)[0]
    return np.asarray(_directions(flat.size) @ flat)


def _finite_difference(adapter, meta, hparams, task, eps=1e-2):
    """Central differences of the exact objective along the same v."""
    flat, unravel = ravel_pytree(meta)
    directions = _directions(flat.size)

    def objective(x):
        return _exact_objective(adapter, unravel(x), hparams, task)

    points = jnp.concatenate([flat + eps * directions, flat - eps * directions])
    values = jax.jit(jax.vmap(objective))(points)
    return np.asarray((values[:DIRECTIONS] - values[DIRECTIONS:]) / (2 * eps))


def test_full_meta_gradient_equals_finite_difference():
    adapter = _two_step_adapter(estimator="full")
    meta, hparams, task = _start(adapter)
    finite = _finite_difference(adapter, meta, hparams, task)
    estimate = _expected_directional(adapter, meta, hparams, task)
    np.testing.assert_allclose(estimate, finite, atol=FD_TOL)
    # Not vacuous: FOMAML (no Hessian term) and "maml-rl" (neither the score
    # outer product nor the score term) are off by more than 20 FD_TOL.
    for name, estimator in (("fomaml", "full"), ("maml", "maml-rl")):
        other = _two_step_adapter(name, estimator=estimator)
        wrong = _expected_directional(other, meta, hparams, task)
        assert np.max(np.abs(wrong - finite)) > 20 * FD_TOL, name


@pytest.mark.parametrize("estimator", ["dice", "maml-rl"])
def test_inner_step_second_order_bias(estimator):
    adapter = _two_step_adapter(estimator=estimator)
    (params, _), hparams, task = _start(adapter)
    flat, unravel = ravel_pytree(params)
    step = adapter.policy_step

    def direction(x, which):
        batch = _batch(adapter, params, which, task.bonus)
        out = step.direction(jax.random.key(0), unravel(x), (), hparams, task, batch)
        return ravel_pytree(out[0])[0]

    def moments(x):
        weights = jax.vmap(
            lambda w: _probability(_batch(adapter, params, w, task.bonus))
        )(BATCHES)
        values = jax.vmap(lambda w: direction(x, w))(BATCHES)
        jacobians = jax.vmap(lambda w: jax.jacfwd(direction)(x, w))(BATCHES)
        return weights @ values, jnp.tensordot(weights, jacobians, 1)

    mean, jacobian = jax.jit(moments)(flat)
    exact = lambda x: _exact_return(adapter, unravel(x), task.bonus) / 2.0  # noqa: E731
    np.testing.assert_allclose(mean, jax.grad(exact)(flat), atol=1e-5)
    hessian = jax.hessian(exact)(flat)
    error = float(jnp.max(jnp.abs(jacobian - hessian)))
    if estimator == "dice":
        assert error < 1e-5, error
    else:
        assert error > 1e-2, error


class QuadraticStep:
    """Inner step ascending -1/2 p.A.p + b.p (its Hessian is -A)."""

    def __init__(self, a, b):
        self.a, self.b = a, b

    def start(self, key, params, hparams, env_params):
        return ()

    def direction(self, key, params, carry, hparams, env_params, episodes=None):
        grad = jax.grad(lambda p: -0.5 * p @ self.a @ p + self.b @ p)(params)
        return grad, carry, None, {"return": jnp.float32(0.0)}


def _quadratic(num_steps, first_order, lr=0.3):
    keys = jax.random.split(jax.random.key(3), 4)
    m = jax.random.normal(keys[0], (4, 4))
    a = m @ m.T / 4 + jnp.eye(4)
    c = jnp.diag(jnp.array([1.0, 2.0, 0.5, 1.5]))
    b, d = jax.random.normal(keys[1], (4,)), jax.random.normal(keys[2], (4,))
    step = QuadraticStep(a, b)

    def meta_objective(theta, lr):
        adapted, _, _ = inner_loop(
            jax.random.key(0), theta, lr, step, None, None, num_steps, first_order
        )
        return -0.5 * adapted @ c @ adapted + d @ adapted

    theta = jax.random.normal(keys[3], (4,))
    grads = jax.grad(meta_objective, argnums=(0, 1))(theta, lr)
    adapted = theta
    for _ in range(num_steps):
        adapted = adapted + lr * (b - a @ adapted)
    return grads, a, d - c @ adapted, adapted - theta


def test_fomaml_differs_by_exactly_the_hessian_term():
    (second, _), a, outer_grad, _ = _quadratic(1, False)
    (first, _), *_ = _quadratic(1, True)
    np.testing.assert_allclose(first, outer_grad, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(second - first, -0.3 * a @ outer_grad, atol=1e-5)
    (second, _), a, outer_grad, _ = _quadratic(2, False)
    jacobian = jnp.eye(4) - 0.3 * a
    np.testing.assert_allclose(second, jacobian @ jacobian @ outer_grad, atol=1e-5)


def test_fomaml_with_meta_sgd_learns_the_rates():
    lr = jnp.full(4, 0.3)
    (_, lr_grad), a, outer_grad, change = _quadratic(1, True, lr=lr)
    np.testing.assert_allclose(lr_grad, change / 0.3 * outer_grad, atol=1e-5)


NAV = dict(hidden=(8,), horizon=5, num_episodes=3, meta_batch_size=3)


def test_meta_batch_vmapped_over_tasks_equals_per_task_loop():
    env, _ = make("Navigation2D-v0")
    adapter = make_adapter("maml", env, meta_sgd=True, inner_steps=2, **NAV)
    hparams = adapter.default_hparams()
    state = adapter.init(jax.random.key(0), hparams)
    meta = (state.params, state.inner_lr)
    tasks = sample_meta_batch(jax.random.key(1), adapter.tasks, 3, None, 0)
    key = jax.random.key(2)
    vmapped = jax.jit(
        jax.grad(lambda m: adapter.meta_objective(key, m, hparams, tasks)[0])
    )
    per_task = jax.jit(
        jax.grad(lambda m, k, t: adapter.task_objective(k, m, hparams, t)[0])
    )
    keys = jax.random.split(key, 3)
    loop = [
        per_task(meta, keys[i], jax.tree_util.tree_map(lambda x, i=i: x[i], tasks))
        for i in range(3)
    ]
    mean = jax.tree_util.tree_map(lambda *g: sum(g) / 3, *loop)
    for a, b in zip(
        jax.tree_util.tree_leaves(vmapped(meta)), jax.tree_util.tree_leaves(mean),
        strict=True,
    ):  # fmt: skip
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
