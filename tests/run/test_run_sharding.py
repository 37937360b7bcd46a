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
    from jaxmeta.run.population import train_population
    from jaxmeta.run.sharding import population_mesh

    env, env_params = gymnax.make("CartPole-v1")
    learner = PPO(env, num_envs=4, num_steps=16, num_epochs=2, num_minibatches=2,
                  hidden=(16, 16))
    pop = 6  # not a multiple of 8: exercises padding
    base = learner.default_hparams()
    hp = jax.tree_util.tree_map(lambda x: jnp.full((pop,), x), base)
    hp = hp.replace(learning_rate=jnp.geomspace(1e-4, 1e-2, pop).astype(jnp.float32))
    key = jax.random.key(3)
    for devices, out in ((1, sys.argv[1]), (8, sys.argv[2])):
        mesh = population_mesh(jax.devices()[:devices])
        states, metrics, _ = train_population(learner, key, hp, env_params, 4, 2,
                                              mesh=mesh)
        leaves = jax.tree_util.tree_leaves(states.params)
        assert len(leaves[0].sharding.device_set) == devices
        np.savez(out, ret=metrics["episode_return"],
                 loss=metrics["train/value_loss"], **{f"p{i}": np.asarray(x)
                 for i, x in enumerate(leaves)})
    print(len(jax.devices()))
    """
)


def test_sharded_over_8_devices_equals_one_device(tmp_path):
    flags = os.environ.get("XLA_FLAGS", "")
    env = dict(
        os.environ, XLA_FLAGS=f"{flags} --xla_force_host_platform_device_count=8"
    )
    one_path, eight_path = tmp_path / "one.npz", tmp_path / "eight.npz"
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(one_path), str(eight_path)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("8")
    one, eight = np.load(one_path), np.load(eight_path)
    assert set(one.files) == set(eight.files)
    for name in one.files:
        np.testing.assert_allclose(
            eight[name], one[name], rtol=1e-5, atol=1e-5, err_msg=name
        )
