"""The battery every registered learner passes: smoke (discrete and continuous
actions), member i of a vmapped population equals the unbatched run with
`hparams[i]`, and a population with different hyperparameters compiles once.
Results are computed once per learner (module fixtures) to keep compiles few."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.envs import make
from jaxmeta.learners import LEARNERS, make_learner, train

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY_TRPO = dict(
    num_envs=4,
    num_steps=16,
    hidden=(16, 16),
    critic_hidden=(16,),
    cg_iters=3,
    line_search_steps=3,
    vf_iters=2,
)
TINY = {
    # Recurrent A2C learners (FeUdal networks and its flat LSTM baseline).
    "feudal": dict(
        num_envs=2,
        num_steps=8,
        hidden=(8,),
        worker_hidden=8,
        goal_dim=4,
        embed_dim=2,
        horizon=3,
        radius=2,
    ),
    "lstm_a2c": dict(num_envs=2, num_steps=8, hidden=8, embed=(8,)),
    # 2 envs x 8 steps: update 0 only fills the buffer, updates 1-3 learn.
    "dqn": dict(
        num_envs=2,
        num_steps=8,
        gradient_steps=2,
        buffer_capacity=64,
        batch_size=16,
        learning_starts=24,
        target_update_every=2,
        n_step=2,
        total_timesteps=64,
        hidden=(16, 16),
    ),
    "ppo": dict(
        num_envs=4, num_steps=16, num_epochs=2, num_minibatches=2, hidden=(16, 16)
    ),
    "ppo_episodic": dict(
        num_envs=4,
        num_steps=16,
        num_epochs=2,
        num_minibatches=2,
        hidden=(16, 16),
        critic_hidden=(16,),
    ),
    "reinforce": dict(num_envs=4, num_steps=16, hidden=(16, 16)),
    "es": dict(population_size=4, max_episode_steps=20, hidden=(16, 16)),
    "esac": dict(
        population_size=4,
        max_episode_steps=20,
        hidden=(16, 16),
        sac_num_steps=8,
        gradient_steps=2,
        buffer_capacity=256,
        batch_size=16,
        inject_every=2,
    ),
    "nsr_es": dict(
        population_size=4,
        max_episode_steps=20,
        hidden=(16, 16),
        archive_size=8,
        neighbours=2,
    ),
    "trpo": TINY_TRPO,
    "trpo_episodic": TINY_TRPO,
    # Tabular, on Taxi: 64 steps an update, so its 200-step limit ends
    # episodes within the 4 updates (options learners: primitive options).
    "qlearning": dict(num_envs=2, num_steps=64),
    "sarsa": dict(num_envs=2, num_steps=64),
    "smdp_q": dict(num_envs=2, num_steps=64),
    "intra_option_q": dict(num_envs=2, num_steps=64),
    "maxq": dict(num_envs=1, num_steps=1000),  # one env a trial; Put learns
    "option_critic": dict(num_envs=2, num_steps=64, num_options=2),
    "option_critic_net": dict(num_envs=4, num_steps=16, hidden=(16, 16), num_options=2),
    # On the h-DQN chain: update 0 fills D1 and D2 (episodes from s2 are
    # short, so subgoals end), updates 1-3 train both networks.
    "hdqn": dict(
        num_envs=2,
        num_steps=8,
        gradient_steps=2,
        buffer_capacity=64,
        meta_buffer_capacity=32,
        batch_size=16,
        learning_starts=16,
        target_update_every=2,
        hidden=(16,),
    ),
    # On Point2D (50-step episodes: none ends here): update 0 fills the
    # buffer with random actions, updates 1-3 train SAC and the discriminator.
    "diayn": dict(
        num_envs=2,
        num_steps=8,
        buffer_capacity=64,
        batch_size=16,
        learning_starts=16,
        hidden=(16, 16),
        discriminator_hidden=(16,),
        num_skills=3,
        fixed_alpha=False,  # so log_alpha moves and differs between members
    ),
    # On PointUMaze (100-step episodes: none ends here): update 0 takes
    # random goals and actions, updates 1-3 train both levels (c = 5).
    "hiro": dict(
        num_envs=2,
        num_steps=10,
        gradient_steps=2,
        goal_every=5,
        buffer_capacity=64,
        manager_buffer_capacity=32,
        batch_size=8,
        learning_starts=20,
        hidden=(8,),
    ),
}
NUM_UPDATES = 4
SIZE = 3
TRACES = []


def _counted_population_train(learner, keys, hparams, env_params, num_updates):
    TRACES.append(type(learner).__name__)
    return jax.vmap(train, in_axes=(None, 0, 0, None, None))(
        learner, keys, hparams, env_params, num_updates
    )


population_train = jax.jit(_counted_population_train, static_argnums=(0, 4))
single_train = jax.jit(train, static_argnums=(0, 4))


# The step-size hparam each population varies (log-spaced), default the rate.
VARIED = {
    "trpo": ("max_kl", 1e-3, 5e-2),
    "trpo_episodic": ("max_kl", 1e-3, 5e-2),
    "es": ("sigma", 0.01, 0.1),
    "nsr_es": ("sigma", 0.01, 0.1),
    "esac": ("sigma", 0.01, 0.1),
}
# A second rate varied with the first, for a network the first does not
# train. DIAYN's discriminator starts with logits near 0, so its bias steps
# depend on the skill labels only, not on the (differing) states.
ALSO_VARIED = {"diayn": ("discriminator_learning_rate", 1e-4, 1e-2)}
# (discrete env, continuous env) of each learner's smoke tests; None: the
# learner needs the other kind of actions (its population runs on that env).
ENVS = {
    "feudal": ("CartPole-v1", None),
    "lstm_a2c": ("CartPole-v1", None),
    "dqn": ("CartPole-v1", None),
    "nsr_es": ("LunarLander-v3", "LunarLanderContinuous-v3"),
    "esac": (None, "Pendulum-v1"),
    "qlearning": ("Taxi-v3", None),
    "sarsa": ("Taxi-v3", None),
    "smdp_q": ("Taxi-v3", None),
    "intra_option_q": ("Taxi-v3", None),
    "maxq": ("Taxi-v3", None),
    "option_critic": ("Taxi-v3", None),
    "option_critic_net": ("CartPole-v1", None),
    "hdqn": ("StochasticChain-v0", None),
    "diayn": (None, "Point2D-v0"),
    "hiro": (None, "PointUMaze-v0"),
}
DEFAULT_ENVS = ("CartPole-v1", "Pendulum-v1")
# (metric of the first rollout, equal when only hparams differ; a metric that
# differs). ES perturbs by sigma from the start: only its centre episode is equal.
SAME_FIRST_ROLLOUT = {
    "es": ("es/center_return", "es/grad_norm"),
    "nsr_es": ("es/center_return", "es/grad_norm"),
    "esac": ("es/center_return", "es/grad_norm"),
    # Its update steps on the batch B_0 drawn at init and reports J_1 after
    # the step: with equal policies only the number of episodes is equal.
    "trpo_episodic": ("episodes", "train/kl"),
    "dqn": ("episode_return", "train/td_loss"),
    "hdqn": ("episode_return", "train/td_loss"),
    "diayn": ("episode_return", "train/critic_loss"),
    "hiro": ("episode_return", "train/critic_loss"),
    "ppo_episodic": ("episodes", "train/approx_kl"),
    # Tabular learners learn from the first step; no Taxi episode ends in
    # the first update (NaN return in every member).
    "qlearning": ("episode_return", "train/td_error"),
    "sarsa": ("episode_return", "train/td_error"),
    "smdp_q": ("episode_return", "train/td_error"),
    "intra_option_q": ("episode_return", "train/td_error"),
    "option_critic": ("episode_return", "train/td_error"),
    # 1,000-step updates (Put is only reached then): the first update's
    # episodes all end by the 200-step limit, in every member.
    "maxq": ("episodes", "train/td_error"),
}
DEFAULT_SAME_FIRST_ROLLOUT = ("episode_return", "train/value_loss")
# Learners whose battery (the same checks on their own envs) has its own file.
OWN_BATTERY = {
    "sac": "tests/learners/test_learners_sac.py",
    "td3": "tests/learners/test_learners_td3.py",
}
BATTERY = sorted(set(LEARNERS) - set(OWN_BATTERY))
# The hierarchical learners added last: their battery runs with `pytest -m
# long` (the default suite's 10-minute budget is spent on the others).
LONG = {"diayn", "feudal", "hdqn", "hiro", "lstm_a2c", "option_critic_net"}
PARAMS = [pytest.param(n, marks=pytest.mark.long) if n in LONG else n for n in BATTERY]


def type_name(learner) -> str:
    """The registry name of `learner` (exact class, not a base class)."""
    return next(n for n, cls in LEARNERS.items() if type(learner) is cls)


def _population(learner, scale=1.0):
    base = learner.default_hparams()
    hparams = jax.tree_util.tree_map(lambda x: jnp.full((SIZE,), x), base)
    name = type_name(learner)
    field, low, high = VARIED.get(name, ("learning_rate", 1e-4, 1e-2))
    values = scale * jnp.geomspace(low, high, SIZE).astype(jnp.float32)
    hparams = hparams.replace(**{field: values})
    if name in ALSO_VARIED:
        field, low, high = ALSO_VARIED[name]
        values = scale * jnp.geomspace(low, high, SIZE).astype(jnp.float32)
        hparams = hparams.replace(**{field: values})
    if hasattr(base, "gamma"):
        hparams = hparams.replace(
            gamma=jnp.linspace(0.9, 0.99, SIZE).astype(jnp.float32)
        )
    return hparams


@pytest.fixture(scope="module", params=PARAMS)
def cartpole_runs(request):
    discrete, continuous = ENVS.get(request.param, DEFAULT_ENVS)
    env, env_params = make(discrete or continuous)
    learner = make_learner(request.param, env, **TINY[request.param])
    keys = jax.random.split(jax.random.key(0), SIZE)
    hparams = _population(learner)
    batched = population_train(learner, keys, hparams, env_params, NUM_UPDATES)
    singles = [
        single_train(
            learner,
            keys[i],
            jax.tree_util.tree_map(lambda x, i=i: x[i], hparams),
            env_params,
            NUM_UPDATES,
        )
        for i in range(SIZE)
    ]
    # A second population with other numbers must reuse the compiled program:
    # every member gets the same key, so only the hparams tell them apart.
    same_key = jnp.stack([keys[0]] * SIZE)
    shared = population_train(
        learner, same_key, _population(learner, 2.0), env_params, NUM_UPDATES
    )
    return learner, batched, singles, shared


def test_every_learner_has_a_tiny_config():
    assert set(TINY) | set(OWN_BATTERY) == set(LEARNERS)
    for path in OWN_BATTERY.values():
        assert os.path.exists(os.path.join(ROOT, path)), path


def _observations(learner, env_params, count=4):
    keys = jax.random.split(jax.random.key(9), count)
    obs, _ = jax.vmap(learner.env.reset, in_axes=(0, None))(keys, env_params)
    return obs.reshape(count, -1).astype(jnp.float32)


def _check_contract(learner, state, metrics, env_params):
    for field in ("episode_return", "episodes", "env_steps", "train/failure"):
        assert metrics[field].shape == (NUM_UPDATES,)
    assert metrics["env_steps"].dtype == jnp.int32
    steps = np.asarray(metrics["env_steps"])
    if hasattr(learner, "num_envs"):  # fixed-size rollouts: exact counts
        per_update = learner.num_envs * learner.num_steps
        np.testing.assert_array_equal(steps, per_update * np.arange(1, NUM_UPDATES + 1))
    else:  # episodes that end early: counted as taken, never above the bound
        assert np.all(np.diff(steps) > 0)
        assert steps[-1] <= NUM_UPDATES * learner.steps_per_update
    assert not np.any(metrics["train/failure"])
    assert int(state.update_count) == NUM_UPDATES
    assert not bool(state.diverged)
    finished = np.asarray(metrics["episodes"]) > 0
    returns = np.asarray(metrics["episode_return"])
    assert np.all(np.isfinite(returns[finished]))
    assert np.all(np.isnan(returns[~finished]))
    obs = _observations(learner, env_params)
    action = learner.act(jax.random.key(1), state, obs)
    assert action.shape[0] == obs.shape[0]
    greedy = learner.act(jax.random.key(1), state, obs, deterministic=True)
    again = learner.act(jax.random.key(2), state, obs, deterministic=True)
    np.testing.assert_array_equal(greedy, again)


def test_smoke_discrete_actions(cartpole_runs):
    learner, _, singles, _ = cartpole_runs
    state, metrics = singles[0]
    env_name = ENVS.get(type_name(learner), DEFAULT_ENVS)[0]
    if env_name is None:
        pytest.skip(f"{type_name(learner)} needs continuous actions")
    _check_contract(learner, state, metrics, make(env_name)[1])
    assert float(np.sum(metrics["episodes"])) > 0


@pytest.mark.parametrize("name", PARAMS)
def test_smoke_continuous_actions(name):
    env_name = ENVS.get(name, DEFAULT_ENVS)[1]
    if env_name is None:
        pytest.skip(f"{name} needs discrete actions")
    env, env_params = make(env_name)
    learner = make_learner(name, env, **TINY[name])
    state, metrics = single_train(
        learner,
        jax.random.key(0),
        learner.default_hparams(),
        env_params,
        NUM_UPDATES,
    )
    _check_contract(learner, state, metrics, env_params)
    action = learner.act(jax.random.key(1), state, _observations(learner, env_params))
    space = learner.env.action_space(env_params)
    assert action.shape == (4,) + tuple(space.shape)
    assert bool(jnp.all((action >= space.low) & (action <= space.high)))


def test_vmapped_member_equals_unbatched_run(cartpole_runs, assert_member_matches):
    _, (states, metrics), singles, _ = cartpole_runs
    for i, (state_i, metrics_i) in enumerate(singles):
        assert_member_matches(states, metrics, i, state_i, metrics_i)


def test_members_differ_when_only_hparams_differ(cartpole_runs):
    learner, _, _, (states, metrics) = cartpole_runs
    # Same key: same initial params and envs; the learning rates differ.
    for leaf in jax.tree_util.tree_leaves(states.params):
        assert not np.allclose(leaf[0], leaf[-1])
    # The first rollout comes from the same initial policy; later ones do not.
    first, loss_name = SAME_FIRST_ROLLOUT.get(
        type_name(learner), DEFAULT_SAME_FIRST_ROLLOUT
    )
    returns = np.asarray(metrics[first])
    np.testing.assert_array_equal(returns[0, 0], returns[-1, 0])
    np.testing.assert_array_equal(metrics["episodes"][0, 0], metrics["episodes"][-1, 0])
    loss = np.asarray(metrics[loss_name])
    assert not np.allclose(loss[0], loss[-1])


def test_population_with_different_hparams_compiles_once(cartpole_runs):
    learner = cartpole_runs[0]
    assert TRACES.count(type(learner).__name__) == 1
