"""DIAYN: the skill wrapper (one skill an episode, one-hot in the
observation), the pseudo-reward log q(z|s') - log p(z) with the env reward
ignored, the exact fold of one skill into a plain SAC, bad input refused
before compiling, and (long) skills the discriminator tells apart on
Point2D. The contract battery is in test_learners_battery.py."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.envs import make
from jaxmeta.envs.skills import SkillEnv
from jaxmeta.learners import SAC, make_learner, train
from jaxmeta.learners.hierarchical.diayn import DIAYN, skill_policy_params

POINT, POINT_PARAMS = make("Point2D-v0")
SMALL = dict(hidden=(16, 16), discriminator_hidden=(16,), batch_size=16,
             learning_starts=8, num_envs=2, num_steps=4,
             buffer_capacity=64)  # fmt: skip


@pytest.fixture(scope="module")
def learner():
    return DIAYN(POINT, num_skills=4, **SMALL)


@pytest.fixture(scope="module")
def state(learner):
    init = jax.jit(learner.init)
    return init(jax.random.key(0), learner.default_hparams(), POINT_PARAMS)


@pytest.mark.parametrize("bad", [1, 0, -3, True, 2.5, "4"])
def test_fewer_than_two_skills_refused(bad):
    with pytest.raises(ValueError, match="num_skills"):
        DIAYN(POINT, num_skills=bad)
    with pytest.raises(ValueError, match="num_skills"):
        make_learner("diayn", POINT, num_skills=1)


def test_bad_discriminator_config_refused():
    with pytest.raises(ValueError, match=r"discriminator_dims.*\[0, 2\)"):
        DIAYN(POINT, discriminator_dims=(0, 2))
    with pytest.raises(ValueError, match="discriminator_dims"):
        DIAYN(POINT, discriminator_dims=())
    with pytest.raises(ValueError, match="hidden"):
        DIAYN(POINT, discriminator_hidden=())
    with pytest.raises(ValueError, match="Box"):
        DIAYN(make("CartPole-v1")[0])


def test_rewrapping_and_equality():
    a, b = DIAYN(POINT, num_skills=3), DIAYN(POINT, num_skills=3)
    assert a == b and hash(a) == hash(b)  # one compile for equal configs
    assert a.env.env is POINT and a.env.num_skills == 3
    import dataclasses

    c = dataclasses.replace(a, num_skills=5)
    assert c.env.env is POINT and c.env.num_skills == 5


def test_skill_fixed_per_episode_and_resampled():
    env = SkillEnv(POINT, 5)
    params = POINT_PARAMS.replace(max_steps_in_episode=3)
    keys = jax.random.split(jax.random.key(1), 64)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    assert obs.shape == (64, 7)
    np.testing.assert_array_equal(obs[:, :2], 0.0)
    np.testing.assert_array_equal(np.argmax(obs[:, 2:], 1), state.skill)
    assert len(set(np.asarray(state.skill).tolist())) == 5
    step = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    first = state.skill
    for t in range(3):
        keys = jax.random.split(jax.random.key(10 + t), 64)
        obs, state, _, _, truncated, info = step(keys, state, jnp.ones((64, 2)), params)
        # The episode's last observation keeps its skill; the reset draws anew.
        np.testing.assert_array_equal(
            np.argmax(info["final_observation"][:, 2:], 1), first
        )
    assert bool(jnp.all(truncated))
    assert np.mean(np.asarray(state.skill) != np.asarray(first)) > 0.5


def test_pseudo_reward_ignores_the_env_reward(learner, state):
    hparams = learner.default_hparams()
    key = jax.random.key(3)
    obs = jax.random.uniform(key, (16, 2), minval=-1.0)
    skill = jnp.arange(16) % 4
    batch = {"obs": learner.env.with_skill(obs, skill),
             "next_obs": learner.env.with_skill(obs[::-1], skill),
             "action": jnp.zeros((16, 2)), "reward": jnp.zeros(16),
             "terminated": jnp.zeros(16, bool)}  # fmt: skip
    args = (state.params, state.target_params, state.opt_state)
    sac_step = jax.jit(learner._sac_step)
    out = sac_step(key, *args, batch, hparams, state.env)
    big = sac_step(key, *args, {**batch, "reward": batch["reward"] + 1e3},
                   hparams, state.env)  # fmt: skip
    leaves = jax.tree_util.tree_leaves
    for x, y in zip(leaves(out), leaves(big), strict=True):
        np.testing.assert_array_equal(x, y)
    log_q = learner.log_q(state.params, batch["next_obs"])
    want = jnp.mean(log_q[jnp.arange(16), skill] + jnp.log(4.0))
    np.testing.assert_allclose(out[3]["pseudo_reward"], want, rtol=1e-5)
    new_params = out[0]
    assert float(new_params["log_alpha"]) == float(state.params["log_alpha"])
    assert not np.allclose(
        new_params["discriminator"]["params"]["Dense_0"]["kernel"],
        state.params["discriminator"]["params"]["Dense_0"]["kernel"],
    )


def test_one_skill_folds_exactly_into_sac(learner, state):
    sac = SAC(POINT, hidden=(16, 16))
    obs = jax.random.uniform(jax.random.key(4), (5, 2), minval=-1.0)
    action = jax.random.uniform(jax.random.key(5), (5, 2), minval=-1.0)
    for skill in (0, 3):
        folded = skill_policy_params(learner, state.params, jnp.int32(skill))
        with_skill = learner.env.with_skill(obs, jnp.full(5, skill))
        mine = learner._actor().apply(state.params["actor"], with_skill)
        theirs = sac._actor().apply(folded["actor"], obs)
        np.testing.assert_allclose(theirs[0], mine[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(theirs[1], mine[1], rtol=1e-5, atol=1e-6)
        q_mine = learner._critic().apply(state.params["critic"], with_skill, action)
        q_sac = sac._critic().apply(folded["critic"], obs, action)
        np.testing.assert_allclose(q_sac, q_mine, rtol=1e-5, atol=1e-6)


@pytest.mark.long
def test_skills_become_distinguishable_on_point2d():
    # 4 skills (chance 0.25), 10,000 env steps, 2,500 SAC and discriminator
    # steps, 3 seeds (about a minute here: too long for the default run).
    # Seeds vary (0.41 to 0.89 measured in the last tenth), so every seed
    # must beat chance clearly and the seeds' mean must reach 0.45.
    learner = DIAYN(POINT, num_skills=4, hidden=(32, 32), discriminator_hidden=(32,),
                    batch_size=64, learning_starts=500, num_envs=4, num_steps=1,
                    buffer_capacity=20_000)  # fmt: skip
    hparams = learner.default_hparams().replace(
        learning_rate=jnp.float32(1e-3), critic_learning_rate=jnp.float32(1e-3),
        discriminator_learning_rate=jnp.float32(1e-3),
    )  # fmt: skip
    seeds = jax.random.split(jax.random.key(0), 3)
    _, metrics = jax.jit(
        jax.vmap(train, in_axes=(None, 0, None, None, None)), static_argnums=(0, 4)
    )(learner, seeds, hparams, POINT_PARAMS, 2500)
    accuracy = np.asarray(metrics["train/discriminator_accuracy"])[:, -250:]
    assert np.all(accuracy.mean(axis=1) > 0.35)
    assert accuracy.mean() > 0.45
    assert not np.any(metrics["train/failure"])
