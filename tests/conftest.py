"""Test-wide setup.

The suite is dominated by XLA compilation of tiny programs, not by running them,
so tests compile with LLVM's cheap pipeline (about half the compile time; same
semantics, slower kernels) unless XLA_FLAGS already chooses, and share a
persistent compilation cache across pytest workers and subprocesses.
"""

import os
import tempfile

if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "")
        + " --xla_backend_optimization_level=0"
        + " --xla_llvm_disable_expensive_passes=true"
    ).strip()
os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR", os.path.join(tempfile.gettempdir(), "jaxmeta-jit")
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "1")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def key():
    return jax.random.key(0)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop each module's compiled programs when it ends: a pytest worker runs
    many modules, and the executables it keeps loaded each map memory; the
    sum once exceeded the kernel's map limit (a segfault mid-compile)."""
    yield
    jax.clear_caches()


def _assert_member_matches(states, metrics, i, state_i, metrics_i, tol=1e-5):
    """Member `i` of a vmapped run (`states`, `metrics`) equals the unbatched
    run (`state_i`, `metrics_i`): every metric and every parameter leaf."""
    for name in metrics_i:
        np.testing.assert_allclose(
            metrics[name][i], metrics_i[name], rtol=tol, atol=tol, err_msg=name
        )
    for a, b in zip(
        jax.tree_util.tree_leaves(state_i.params),
        jax.tree_util.tree_leaves(states.params),
        strict=True,
    ):
        np.testing.assert_allclose(b[i], a, rtol=tol, atol=tol)


@pytest.fixture
def assert_member_matches():
    """`assert_member_matches(states, metrics, i, state_i, metrics_i)`."""
    return _assert_member_matches
