"""SMDP and intra-option Q-learning: on a small chain MDP with two subgoal
options both converge to the exact option values Q*_O (value iteration
over options), intra-option learning updates exactly the options
consistent with a step, and bad options are refused before compiling.

The tolerance, derived as for Q-learning (test_learners_qlearning.py): the
chain and the options are deterministic (beta in {0, 1}), so each option
execution is a deterministic SMDP transition (s, o) -> (s', k steps, R)
and, with alpha = 1, an SMDP update sets Q(s, o) = R + gamma^k max Q(s',
.); intra-option updates set Q(s, o) = r + gamma U(s', o) with U either
Q(s', o) or max Q(s', .). From Q = 0 <= Q*_O both rise to Q*_O and become
exact once the entries after them are, so after enough uniform-random
visits the error is float32 rounding alone: at most LENGTH backups of
values <= 1, under LENGTH * 2^-23 < 1e-6.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_learners_qlearning import GAMMA, LENGTH, Chain, chain_model

from jaxmeta.envs import make
from jaxmeta.learners import hparams_with, make_learner, train
from jaxmeta.learners.common.tabular_learner import Step
from jaxmeta.learners.hierarchical.option_sets import (
    OptionSet,
    option_value_iteration,
    primitive_options,
    subgoal_options,
)
from jaxmeta.learners.hierarchical.options import SMDPQ, IntraOptionQ

EXACT = LENGTH * 2.0**-23


def chain_options() -> OptionSet:
    """ "Right to state 2" (start in 0-1) and "left to state 0" (start in
    1-3), then the primitive moves."""
    transition, _, _ = chain_model()
    next_state = np.argmax(transition, axis=-1)
    initiation = np.zeros((2, LENGTH), bool)
    initiation[0, :2] = True
    initiation[1, 1:4] = True
    subgoals = subgoal_options(next_state, [2, 0], initiation, ["right2", "left0"])
    return subgoals + primitive_options(LENGTH, 2)


def option_q_star(options: OptionSet):
    transition, reward, terminal = chain_model()
    return option_value_iteration(transition, reward, terminal, options, GAMMA)


TRAIN = jax.jit(train, static_argnums=(0, 4))
EXACT_RUN = dict(learning_rate=1.0, eps_start=1.0, eps_end=1.0, gamma=GAMMA)


@pytest.mark.parametrize("cls", [SMDPQ, IntraOptionQ])
def test_options_learners_converge_to_option_value_iteration(cls):
    options = chain_options()
    learner = cls(Chain(), num_envs=4, num_steps=64, options=options)
    hparams = hparams_with(learner.default_hparams(), **EXACT_RUN)
    state, metrics = TRAIN(
        learner, jax.random.key(0), hparams, Chain().default_params, 40
    )
    q, star = np.asarray(state.params["q"]), option_q_star(options)
    # SMDP learning knows Q(s, o) where o can start; intra-option learning
    # also where o can run (continue). The goal is never acted in.
    learned = (options.initiation if cls is SMDPQ else options.domain).T.copy()
    learned[LENGTH - 1] = False
    np.testing.assert_allclose(q[learned], star[learned], atol=EXACT, rtol=0)
    # right2 from 0 takes two steps, then right, right: the reward comes
    # at the fourth step.
    np.testing.assert_allclose(star[0, 0], GAMMA**3, rtol=1e-12)
    assert float(np.asarray(metrics["train/td_error"])[-1]) < EXACT
    # Options run for several steps: SMDP makes fewer updates than steps.
    assert np.asarray(metrics["episodes"]).sum() > 100


def _intra_step(options, q, s, a, s_next):
    learner = IntraOptionQ(Chain(), num_envs=1, options=options)
    hparams = hparams_with(learner.default_hparams(), learning_rate=0.5)
    one = lambda x, dtype=jnp.int32: jnp.asarray([x], dtype)  # noqa: E731
    step = Step(
        obs=one(s), action=one(a), reward=one(0.0, jnp.float32),
        final_obs=one(s_next), next_obs=one(s_next),
        terminated=one(False, bool), truncated=one(False, bool),
        done=one(False, bool),
    )  # fmt: skip
    agent = {"option": one(0)}
    new, td, count = learner._learn(
        q, agent, step, one(False, bool), one(False, bool), None, None, hparams
    )
    return np.asarray(new), int(count[0])


def test_intra_option_update_touches_exactly_the_consistent_options():
    options = chain_options()  # right2, left0, a0 (left), a1 (right)
    q = jax.random.uniform(jax.random.key(3), (LENGTH, 4))
    # In state 1 action right agrees with right2 and a1; left0 goes left.
    new, count = _intra_step(options, q, 1, 1, 2)
    changed = np.argwhere(~np.isclose(new, np.asarray(q)))
    assert changed.tolist() == [[1, 0], [1, 3]] and count == 2
    # Target of right2 in 1 -> 2: beta(2) = 1, so U = max over options in 2.
    best = max(q[2, 1], q[2, 2], q[2, 3])  # right2 cannot start in 2
    np.testing.assert_allclose(new[1, 0], 0.5 * q[1, 0] + 0.5 * GAMMA * best)
    # In state 3 (outside right2's domain) left agrees with left0 and a0.
    new, count = _intra_step(options, q, 3, 0, 2)
    changed = np.argwhere(~np.isclose(new, np.asarray(q)))
    assert changed.tolist() == [[3, 1], [3, 2]] and count == 2
    # left0 continues in 2 (beta 0): its target bootstraps from Q(2, left0).
    np.testing.assert_allclose(new[3, 1], 0.5 * q[3, 1] + 0.5 * GAMMA * q[2, 1])


def test_four_rooms_hallway_options_build_and_bad_options_are_refused():
    env, _ = make("FourRooms-options")
    learner = make_learner("smdp_q", env, options="hallways+primitive")
    assert learner.num_choices == 12
    assert learner == make_learner("smdp_q", env, options="hallways+primitive")
    assert hash(learner) == hash(
        make_learner("smdp_q", env, options="hallways+primitive")
    )
    shape = (2, LENGTH)
    good = dict(
        initiation=np.ones(shape, bool),
        policy=np.zeros(shape, np.int32),
        termination=np.ones(shape),
    )
    bad_inputs = [
        ({"initiation": np.array([[True] * LENGTH, [False] * LENGTH])},
         "option 1 has an empty initiation set"),
        ({"termination": np.full(shape, 1.5)}, "outside \\[0, 1\\]"),
        ({"termination": np.full(shape, np.nan)}, "outside \\[0, 1\\]"),
        ({"termination": -np.ones(shape)}, "outside \\[0, 1\\]"),
        ({"policy": np.zeros((2, 3), np.int32)}, "must have the initiation"),
        ({"policy": np.zeros(shape)}, "integer actions"),
    ]  # fmt: skip
    for change, message in bad_inputs:
        with pytest.raises(ValueError, match=message):
            OptionSet(**{**good, **change})
    transition, _, _ = chain_model()
    next_state = np.argmax(transition, axis=-1)
    with pytest.raises(ValueError, match="subgoal 7 .* outside the state space"):
        subgoal_options(next_state, [7], np.ones((1, LENGTH), bool))
    with pytest.raises(ValueError, match="subgoal -1 .* outside the state space"):
        subgoal_options(next_state, [-1], np.ones((1, LENGTH), bool))
    with pytest.raises(ValueError, match="options are over 5 states, the env has 104"):
        SMDPQ(env, options=chain_options())
    only_left = OptionSet(**{**good, "initiation": np.eye(2, LENGTH, dtype=bool)})
    with pytest.raises(ValueError, match="no option can start in states \\[2, 3, 4\\]"):
        IntraOptionQ(Chain(), options=only_left)
    with pytest.raises(ValueError, match="actions outside 0..1"):
        SMDPQ(Chain(), options=OptionSet(**{**good, "policy": np.full(shape, 2)}))
    with pytest.raises(ValueError, match="options must be an OptionSet or one of"):
        make_learner("intra_option_q", env, options="hallway")
