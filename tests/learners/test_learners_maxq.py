"""MAXQ-Q on Taxi: a converged policy is hierarchically optimal (its return
from every one of the 300 start states equals the optimal value computed by
value iteration on the flat MDP, executed with the stack of subtasks and by
polling from the root); task graphs with a cycle, an unreachable node, a
primitive without an action, or actions the env lacks are refused."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.envs import make, taxi
from jaxmeta.learners.base import hparams_with, train
from jaxmeta.learners.hierarchical.maxq import MAXQ
from jaxmeta.learners.hierarchical.task_graph import TaskGraph, taxi_task_graph


def _optimal_values() -> np.ndarray:
    """V*(s) [500] of undiscounted Taxi by value iteration (deterministic)."""
    states = jnp.arange(taxi.NUM_STATES, dtype=jnp.int32)
    outcomes = [
        taxi.transition(states, jnp.full_like(states, a))
        for a in range(taxi.NUM_ACTIONS)
    ]
    nxt, reward, ends = (np.stack([np.asarray(o[k]) for o in outcomes], 1)
                         for k in range(3))  # fmt: skip
    values = np.zeros(taxi.NUM_STATES)
    for _ in range(100):  # optimal episodes take < 30 steps
        values = np.max(reward + np.where(ends, 0.0, values[nxt]), axis=1)
    return values


def _polled_return(learner, state, s0):
    """Greedy return from Taxi state s0 within 200 steps, choosing every
    action afresh from the root (`act`, the paper's polled execution)."""

    def body(carry, _):
        s, done, ret = carry
        a = learner.act(jax.random.key(0), state, s[None], True)[0]
        s2, r, ends = taxi.transition(s, a)
        ret = ret + jnp.where(done, 0.0, r)
        return (jnp.where(done, s, s2), done | ends, ret), None

    init = (s0, jnp.asarray(False), jnp.float32(0.0))
    (_, _, ret), _ = jax.lax.scan(body, init, None, 200)
    return ret


@pytest.mark.long
@pytest.mark.slow
def test_converged_maxq_is_hierarchically_optimal_on_taxi():
    env, env_params = make("Taxi-v3")
    learner = MAXQ(env, num_steps=1000)
    # Taxi is deterministic, so alpha = 1 is exact TD; constant exploration.
    hparams = hparams_with(
        learner.default_hparams(), learning_rate=1.0, gamma=1.0,
        eps_start=0.2, eps_end=0.2,
    )  # fmt: skip
    run = jax.jit(lambda k: train(learner, k, hparams, env_params, 25))
    state, metrics = run(jax.random.key(0))
    assert not bool(state.diverged)
    starts = jnp.asarray(taxi.initial_state_support())
    optimal = _optimal_values()[np.asarray(starts)]
    start = lambda s: taxi.TaxiState(state=s, time=jnp.int32(0))  # noqa: E731
    executed = jax.jit(
        jax.vmap(lambda s: learner.greedy_return(state, start(s), env_params, 200))
    )(starts)
    polled = jax.jit(jax.vmap(lambda s: _polled_return(learner, state, s)))(starts)
    np.testing.assert_array_equal(np.asarray(executed), optimal)
    np.testing.assert_array_equal(np.asarray(polled), optimal)
    # And it learned from far below: the first update's episodes time out.
    assert float(metrics["episode_return"][0]) < 0.0 < optimal.mean()


def _tiny_graph(**changes) -> dict:
    """Root -> A -> (north, south): the fields of a valid two-level graph."""
    values = dict(
        names=("Root", "A", "north", "south"),
        children=((1,), (2, 3), (), ()),
        action=(-1, -1, 1, 0),
        sizes=(1, 1, 1, 1),
        terminated=(lambda f: f[0] < 0, lambda f: f[0] < 0, None, None),
        abstract=(lambda f: f[0] * 0,) * 4,
        features=lambda obs: (obs,),
    )
    return {**values, **changes}


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"children": ((1,), (2, 0), (), ())}, "cycle: Root -> A -> Root"),
        ({"children": ((2,), (2, 3), (), ())}, r"\['A', 'south'\] are not reachable"),
        ({"action": (-1, -1, -1, 0)}, "primitive node needs an action"),
        ({"children": ((1,), (2, 7), (), ())}, "children must be node indices"),
        ({"terminated": (lambda f: f[0] < 0, None, None, None)}, "needs a termination"),
        ({"sizes": (1, 0, 1, 1)}, "sizes must be >= 1"),
    ],
)
def test_bad_task_graphs_are_refused(changes, match):
    with pytest.raises(ValueError, match=match):
        TaskGraph(**_tiny_graph(**changes))


def test_learner_checks_before_compiling():
    env, _ = make("Taxi-v3")
    with pytest.raises(ValueError, match="num_envs must be 1"):
        MAXQ(env, num_envs=2)
    graph = TaskGraph(**_tiny_graph(action=(-1, -1, 9, 0)))
    with pytest.raises(ValueError, match="actions must be the env's 0..5"):
        MAXQ(env, graph=graph)
    with pytest.raises(ValueError, match="trace_length must be a positive"):
        MAXQ(env, trace_length=0)
    assert MAXQ(env).graph is taxi_task_graph()
    assert taxi_task_graph().depth == 3
