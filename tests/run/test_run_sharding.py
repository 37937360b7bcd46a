"""A population sharded over 8 forced CPU devices equals the unsharded one."""

import os
import subprocess
import sys
import textwrap

import numpy as np

SCRIPT = textwrap.dedent(
    """
    import sys
    import jax, jax.numpy as jnp, numpy as np
    import gymnax
    from jaxmeta.learners import PPO
    from jaxmeta.run.loop import train_population
    from jaxmeta.run.sharding import population_mesh

    env, env_params = gymnax.make("CartPole-v1")
    learner = PPO(env, num_envs=4, num_steps=16, num_epochs=2, num_minibatches=2,
                  hidden=(16, 16))
    pop = 6  # not a multiple of 8: exercises padding
    base = learner.default_hparams()
    hp = jax.tree_util.tree_map(lambda x: jnp.full((pop,), x), base)
    hp = hp.replace(learning_rate=jnp.geomspace(1e-4, 1e-2, pop).astype(jnp.float32))
    key = jax.random.key(3)
    mesh = population_mesh(jax.devices()[: int(sys.argv[1])])
    states, metrics, _ = train_population(learner, key, hp, env_params, 4, 2,
                                          mesh=mesh)
    leaves = jax.tree_util.tree_leaves(states.params)
    np.savez(sys.argv[2], ret=metrics["episode_return"],
             loss=metrics["train/value_loss"], **{f"p{i}": np.asarray(x)
             for i, x in enumerate(leaves)})
    print(len(jax.devices()))
    """
)


def _run(devices, out, tmp_path):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8")
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(devices), str(out)],
        capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("8")
    return np.load(out)


def test_sharded_over_8_devices_equals_one_device(tmp_path):
    one = _run(1, tmp_path / "one.npz", tmp_path)
    eight = _run(8, tmp_path / "eight.npz", tmp_path)
    assert set(one.files) == set(eight.files)
    for name in one.files:
        np.testing.assert_allclose(
            eight[name], one[name], rtol=1e-5, atol=1e-5, err_msg=name
        )
