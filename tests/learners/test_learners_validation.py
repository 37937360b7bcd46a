"""Bad inputs raise ValueError naming the field, before anything compiles."""

import gymnax
import jax.numpy as jnp
import pytest

from jaxmeta.envs import make
from jaxmeta.learners import PPO, Reinforce, hparams_with, make_learner
from jaxmeta.run.population import train_population
from jaxmeta.search import LogUniform, SearchSpace, Uniform


@pytest.fixture
def cartpole():
    return gymnax.make("CartPole-v1")


def test_unknown_env_name():
    with pytest.raises(ValueError, match="unknown env name 'NoSuchEnv-v0'"):
        make("NoSuchEnv-v0")


def test_unknown_learner(cartpole):
    with pytest.raises(ValueError, match="unknown learner 'dqn_x'.*ppo"):
        make_learner("dqn_x", cartpole[0])


@pytest.mark.parametrize(
    "field, value",
    [("num_envs", 0), ("num_steps", -1), ("num_epochs", 0), ("num_minibatches", 0)],
)
def test_ppo_static_config(cartpole, field, value):
    with pytest.raises(ValueError, match=field):
        PPO(cartpole[0], **{field: value})


def test_ppo_minibatches_must_divide_batch(cartpole):
    with pytest.raises(ValueError, match="num_minibatches"):
        PPO(cartpole[0], num_envs=3, num_steps=5, num_minibatches=2)


def test_reinforce_baseline_choice(cartpole):
    with pytest.raises(ValueError, match="baseline.*'none', 'learned'"):
        Reinforce(cartpole[0], baseline="critic")


def test_activation_choice(cartpole):
    with pytest.raises(ValueError, match="activation"):
        PPO(cartpole[0], activation="swish")


def test_hyperparameter_the_learner_does_not_have(cartpole):
    base = PPO(cartpole[0]).default_hparams()
    with pytest.raises(ValueError, match="'momentum'.*learning_rate"):
        hparams_with(base, momentum=0.9)
    with pytest.raises(ValueError, match="momentum"):
        SearchSpace(base, momentum=Uniform(0.0, 1.0))


def test_bounds(cartpole):
    base = PPO(cartpole[0]).default_hparams()
    with pytest.raises(ValueError, match="low"):
        SearchSpace(base, learning_rate=LogUniform(-1e-3, 1e-2))
    with pytest.raises(ValueError, match="low|high"):
        SearchSpace(base, clip_eps=Uniform(0.3, 0.1))


def test_population_size_zero(cartpole):
    env, env_params = cartpole
    learner = PPO(env, num_envs=2, num_steps=4, num_minibatches=1)
    empty = learner.default_hparams().replace(learning_rate=jnp.zeros((0,)))
    empty = empty.replace(
        **{
            f: jnp.zeros((0,))
            for f in (
                "gamma",
                "gae_lambda",
                "clip_eps",
                "ent_coef",
                "vf_coef",
                "max_grad_norm",
            )
        }
    )
    with pytest.raises(ValueError, match="population_size"):
        train_population(learner, None, empty, env_params, 2)
