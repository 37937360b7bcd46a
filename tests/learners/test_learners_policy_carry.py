"""The policy-carry protocol (learners/common/evaluate.py): learners whose
policy keeps something across an episode's steps (LSTM memory, a manager's
goal) are evaluated with it, so `evaluate` (the run layer's scores) runs the
policy they trained, not a fresh episode's first step at every step."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxmeta.envs import make
from jaxmeta.learners import make_learner
from jaxmeta.learners.common.evaluate import act_init, act_step, evaluate
from jaxmeta.learners.hierarchical import hiro_parts
from jaxmeta.learners.hierarchical.hdqn import HDQN
from jaxmeta.learners.hierarchical.hiro import HIRO
from jaxmeta.learners.ppo import PPO

KEY_DOOR, KEY_DOOR_PARAMS = make("KeyDoor-v0", height=5, width=7,
                                 max_steps_in_episode=12)  # fmt: skip
K = jax.random.key(0)  # deterministic policies ignore it
RECURRENT = {
    "lstm_a2c": dict(num_envs=2, num_steps=4, hidden=8, embed=(8,)),
    "feudal": dict(num_envs=2, num_steps=4, hidden=(8,), worker_hidden=8,
                   goal_dim=4, embed_dim=2, horizon=3, radius=2),
}  # fmt: skip


def _init(learner, params):
    return learner.init(jax.random.key(1), learner.default_hparams(), params)


def test_recurrent_evaluation_carries_the_memory_the_network_returns():
    for name, config in RECURRENT.items():
        learner = make_learner(name, KEY_DOOR, **config)
        state = _init(learner, KEY_DOOR_PARAMS)
        returns, lengths = jax.jit(evaluate, static_argnums=(0, 4, 5, 6))(
            learner, jax.random.key(2), state, KEY_DOOR_PARAMS, 3, 12, True
        )
        # The same episodes by hand: the network applied with its own memory.
        key_reset, _ = jax.random.split(jax.random.key(2))
        obs, _ = jax.vmap(KEY_DOOR.reset, in_axes=(0, None))(
            jax.random.split(key_reset, 3), KEY_DOOR_PARAMS
        )
        obs = obs.reshape(3, -1).astype(jnp.float32)
        memory = act_init(learner, state, obs)
        action, carried = act_step(learner, K, state, memory, obs, True)
        out = learner.network().apply(state.params, memory, obs)
        expected_memory, logits = out[0], out[1]
        logits = logits["logits"] if isinstance(logits, dict) else logits
        np.testing.assert_array_equal(action, jnp.argmax(logits, -1))
        leaves = jax.tree_util.tree_leaves
        for a, b in zip(leaves(carried), leaves(expected_memory), strict=True):
            np.testing.assert_array_equal(a, b)
        assert any(float(jnp.abs(leaf).max()) > 0
                   for leaf in jax.tree_util.tree_leaves(carried)), name  # fmt: skip
        # act is the first step of a fresh episode.
        np.testing.assert_array_equal(learner.act(K, state, obs, True), action)
        assert returns.shape == (3,) and np.all(np.asarray(lengths) >= 1)


def test_hiro_keeps_its_goal_target_for_c_steps_then_asks_the_manager():
    maze, maze_params = make("PointUMaze-v0")
    learner = HIRO(maze, num_envs=2, num_steps=3, hidden=(8,), batch_size=4,
                   buffer_capacity=32, manager_buffer_capacity=8,
                   goal_every=3, goal_dims=(0, 1))  # fmt: skip
    state = _init(learner, maze_params)
    obs = jnp.array([[0.5, 0.5], [2.0, 0.3]], jnp.float32)
    carry = act_init(learner, state, obs)
    step = jax.jit(lambda c, o: act_step(learner, K, state, c, o, True))
    for t in range(7):
        action, new = step(carry, obs)
        if t % 3 == 0:  # the manager's deterministic goal
            np.testing.assert_allclose(
                new[1], learner.choose_goal(K, state, obs, True), rtol=1e-6
            )
        else:  # h(s, g, s'): the absolute target stays where it was
            np.testing.assert_allclose(obs + new[1], carry[0] + carry[1], atol=1e-5)
            np.testing.assert_allclose(
                new[1],
                hiro_parts.goal_transition(carry[0], carry[1], obs, (0, 1)),
                atol=1e-6,
            )
        np.testing.assert_allclose(
            action, learner.act_for_goal(K, state, obs, new[1], True), atol=1e-6
        )
        carry, obs = new, jnp.clip(obs + 0.1 * action, 0.0, 3.0)


def test_hdqn_keeps_its_subgoal_until_the_state_is_reached():
    chain, chain_params = make("StochasticChain-v0")
    learner = HDQN(chain, num_envs=2, num_steps=4, buffer_capacity=16,
                   meta_buffer_capacity=16, subgoals=(0, 3, 5),
                   hidden=(8,))  # fmt: skip
    state = _init(learner, chain_params)
    hot = lambda i: jax.nn.one_hot(jnp.array([i]), 6)  # noqa: E731
    first = act_init(learner, state, hot(1))
    _, (goal, choose) = act_step(learner, K, state, first, hot(1), True)
    np.testing.assert_array_equal(goal, learner.choose_goal(K, state, hot(1), True))
    assert not bool(choose[0])
    target = learner.subgoals[int(goal[0])]
    elsewhere = next(s for s in range(6) if s != target)
    _, (kept, _) = act_step(learner, K, state, (goal, choose), hot(elsewhere),
                               True)  # fmt: skip
    np.testing.assert_array_equal(kept, goal)  # not reached: the same subgoal
    _, (fresh, _) = act_step(learner, K, state, (goal, choose), hot(target),
                                True)  # fmt: skip
    np.testing.assert_array_equal(
        fresh, learner.choose_goal(K, state, hot(target), True)
    )


def test_a_learner_without_a_carry_is_its_act():
    cartpole, params = make("CartPole-v1")
    learner = PPO(cartpole, num_envs=2, num_steps=4, num_minibatches=1)
    state = _init(learner, params)
    obs = jnp.zeros((3, 4))
    assert act_init(learner, state, obs) == ()
    action, carry = act_step(learner, jax.random.key(0), state, (), obs, True)
    assert carry == ()
    np.testing.assert_array_equal(
        action, learner.act(jax.random.key(0), state, obs, True)
    )


def test_pbt_runs_its_chosen_members_carry():
    from jaxmeta.control.pbt import PBT, PBTLearner
    from jaxmeta.search import LogUniform, SearchSpace

    inner = make_learner("lstm_a2c", KEY_DOOR, **RECURRENT["lstm_a2c"])
    base = inner.default_hparams()
    space = SearchSpace(base, learning_rate=LogUniform(1e-4, 1e-2))
    pbt = PBTLearner(inner, PBT(space, 2, quantile=0.5), interval=2)
    state = pbt.init(jax.random.key(1), base, KEY_DOOR_PARAMS)
    obs = jnp.ones((3, KEY_DOOR.observation_space(KEY_DOOR_PARAMS).shape[0]))
    member = jax.tree_util.tree_map(lambda x: x[pbt.chosen_member(state)],
                                    state.members)  # fmt: skip
    carry = act_init(pbt, state, obs)
    action, carry = act_step(pbt, K, state, carry, obs, True)
    expected, memory = act_step(inner, K, member, act_init(inner, member, obs),
                                   obs, True)  # fmt: skip
    np.testing.assert_array_equal(action, expected)
    leaves = jax.tree_util.tree_leaves
    for a, b in zip(leaves(carry), leaves(memory), strict=True):
        np.testing.assert_array_equal(a, b)


def _option_critic_with(term_logit):
    # Taxi (500 states), 3 options; state 0 prefers option 2, state 1 option 0.
    taxi, params = make("Taxi-v3")
    learner = make_learner("option_critic", taxi, num_envs=2, num_steps=4,
                           num_options=3)  # fmt: skip
    state = _init(learner, params)
    tables = dict(state.params["q"])
    q = jnp.zeros_like(tables["q_omega"]).at[0, 2].set(1.0).at[1, 0].set(1.0)
    tables.update(q_omega=q, term=jnp.full_like(tables["term"], term_logit))
    return learner, state.replace(params={"q": tables})


def test_option_critic_runs_options_until_they_terminate():
    step = jax.jit(
        lambda learner, state, carry, obs: act_step(
            learner, K, state, carry, obs, True
        ),
        static_argnums=0,
    )
    for term_logit, second in ((-30.0, 2), (30.0, 0)):
        learner, state = _option_critic_with(term_logit)
        carry = act_init(learner, state, jnp.zeros(1, jnp.int32))
        _, carry = step(learner, state, carry, jnp.array([0]))
        assert int(carry[0][0]) == 2  # the greedy option in state 0
        _, carry = step(learner, state, carry, jnp.array([1]))
        # beta ~ 0: option 2 runs on; beta ~ 1: it ends, state 1's greedy one.
        assert int(carry[0][0]) == second, term_logit


def test_every_registered_carry_has_the_protocols_signature():
    # act_init / act_step are looked up by name: another method of that name
    # (TRPO's and MAML's `policy_step` are policy updates) would be called
    # with the wrong arguments by `evaluate`.
    import inspect

    from jaxmeta.learners.registry import LEARNERS

    carrying = set()
    for name, cls in LEARNERS.items():
        has = [hasattr(cls, method) for method in ("act_init", "act_step")]
        assert has[0] == has[1], name
        if has[0]:
            carrying.add(name)
            init = list(inspect.signature(cls.act_init).parameters)
            step = list(inspect.signature(cls.act_step).parameters)
            assert init == ["self", "state", "obs"], (name, init)
            # (key, state, carry, obs, deterministic): the carry's name varies.
            assert len(step) == 6 and step[:3] == ["self", "key", "state"], name
            assert step[4:] == ["obs", "deterministic"], (name, step)
    assert carrying == {"lstm_a2c", "feudal", "hiro", "hdqn", "option_critic",
                        "option_critic_net"}  # fmt: skip


def test_option_critic_net_runs_options_until_they_terminate():
    cartpole, params = make("CartPole-v1")
    learner = make_learner("option_critic_net", cartpole, num_envs=2, num_steps=4,
                           hidden=(8,), num_options=3)  # fmt: skip
    state = _init(learner, params)
    obs = jax.random.normal(jax.random.key(3), (4, 4))
    q, _, _ = learner._net().apply(state.params["net"], obs)
    greedy = jnp.argmax(q, -1)
    running = (greedy + 1) % 3  # an option the policy over options would not pick
    for bias, expected in ((-30.0, running), (30.0, greedy)):
        net = jax.tree_util.tree_map(lambda x: x, state.params["net"])
        term = net["params"]["Dense_2"]  # the termination head
        net["params"]["Dense_2"] = {
            "kernel": jnp.zeros_like(term["kernel"]),
            "bias": jnp.full_like(term["bias"], bias),
        }
        held = state.replace(params={**state.params, "net": net})
        carry = (running.astype(jnp.int32), jnp.zeros(4, bool))
        _, (option, _) = act_step(learner, K, held, carry, obs, True)
        np.testing.assert_array_equal(option, expected)
