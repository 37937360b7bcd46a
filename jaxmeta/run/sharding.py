"""Shard a population over every device: a 1-D mesh over the population axis.

The same code runs on one CPU (a mesh of one device), on every GPU of a host and
on several hosts after `jax.distributed.initialize` (`initialize_distributed`):
arrays are placed with `make_array_from_callback`, which builds a global array
from each process's own shards, and brought back with `to_host`, which gathers
across processes when a process cannot see every shard. Populations whose size
is not a multiple of the device count are padded by repeating the last member;
the padding is dropped from every result.
"""

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import AxisType, NamedSharding, PartitionSpec

POP_AXIS = "pop"


def population_mesh(devices=None) -> jax.sharding.Mesh:
    """A mesh with one Auto axis named "pop" over `devices` (default: all,
    across every process)."""
    devices = jax.devices() if devices is None else list(devices)
    return jax.sharding.Mesh(
        np.asarray(devices), (POP_AXIS,), axis_types=(AxisType.Auto,)
    )


def padded_size(population_size: int, mesh) -> int:
    """Smallest multiple of the mesh size that holds the population."""
    n = mesh.devices.size
    return -(-population_size // n) * n


def pad_population(tree, population_size: int, target: int):
    """Repeat the last member so every leaf's leading axis is `target`."""
    if target == population_size:
        return tree
    idx = np.concatenate(
        [np.arange(population_size), np.full(target - population_size, -1)]
    )
    return jax.tree_util.tree_map(lambda x: x[idx], tree)


def _place(x, sharding):
    if jax.process_count() == 1 or (
        isinstance(x, jax.Array) and not x.is_fully_addressable
    ):
        return jax.device_put(x, sharding)
    # Several processes, host values: each process builds its own shards.
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])


def shard_population(tree, mesh):
    """Place leaves with their leading (population) axis split over the mesh.
    On several processes every process passes the same full values."""
    sharding = NamedSharding(mesh, PartitionSpec(POP_AXIS))
    return jax.tree_util.tree_map(lambda x: _place(x, sharding), tree)


def replicate(tree, mesh):
    """Place leaves fully replicated on every device of the mesh."""
    sharding = NamedSharding(mesh, PartitionSpec())
    return jax.tree_util.tree_map(lambda x: _place(x, sharding), tree)


def constrain_population(tree, mesh):
    """Inside jit: keep leaves split over the mesh's population axis."""
    sharding = NamedSharding(mesh, PartitionSpec(POP_AXIS))
    return jax.lax.with_sharding_constraint(tree, sharding)


def constrain_replicated(tree, mesh):
    """Inside jit: keep leaves replicated (small shared results)."""
    return jax.lax.with_sharding_constraint(tree, NamedSharding(mesh, PartitionSpec()))


def to_host(tree):
    """Every leaf as a full NumPy array on this process (gathered from the other
    processes when it is sharded over devices this process cannot address)."""

    def fetch(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(jax.device_get(x))

    return jax.tree_util.tree_map(fetch, tree)


def is_primary() -> bool:
    """True on the process that writes files (process 0)."""
    return jax.process_index() == 0


def initialize_distributed(
    coordinator: str, num_processes: int, process_id: int
) -> None:
    """`jax.distributed.initialize` for a multi-host run (see docs/scaling.md).

    coordinator: "host:port" of process 0; on CPU, cross-process collectives use
    gloo. Call before anything touches a device.
    """
    if not isinstance(num_processes, int) or num_processes < 1:
        raise ValueError(f"num_processes must be an int >= 1, got {num_processes!r}")
    if not isinstance(process_id, int) or not 0 <= process_id < num_processes:
        raise ValueError(
            f"process_id must be an int in [0, {num_processes}), got {process_id!r}"
        )
    if ":" not in str(coordinator):
        raise ValueError(f"coordinator must be 'host:port', got {coordinator!r}")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator,
        num_processes=num_processes,
        process_id=process_id,
    )
