"""Regression: jax/jaxlib 0.10.x deadlock on small CPUs when vmapped batched
linear algebra runs concurrently (a 64-member vmapped init of an MLP with
orthogonal kernels hangs in LAPACK QR). pyproject pins a JAX without it; this
runs the pattern in a subprocess under a timeout so a hang fails, not stalls."""

import subprocess
import sys
import textwrap

import jax

SCRIPT = textwrap.dedent(
    """
    import jax, jax.numpy as jnp
    from jaxmeta.nets.mlp import MLP

    net = MLP((64, 64), 2)
    keys = jax.random.split(jax.random.key(0), 64)
    params = jax.jit(jax.vmap(lambda k: net.init(k, jnp.zeros((1, 4)))))(keys)
    a = jax.random.normal(jax.random.key(1), (64, 32, 32))
    spd = a @ jnp.swapaxes(a, 1, 2) + 32 * jnp.eye(32)
    chol = jax.jit(jax.vmap(jnp.linalg.cholesky))(spd)
    qr = jax.jit(jax.vmap(jnp.linalg.qr))(a)
    jax.block_until_ready((params, chol, qr))
    assert bool(jnp.all(jnp.isfinite(chol)))
    print("ok")
    """
)


def test_installed_jax_is_not_the_deadlocking_series():
    major_minor = tuple(int(p) for p in jax.__version__.split(".")[:2])
    assert major_minor != (0, 10), jax.__version__


def test_vmapped_orthogonal_init_and_cholesky_over_64_members_finish():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")
