"""Shard a population over every device: a 1-D mesh over the population axis.

The same code runs on one CPU (a mesh of one device). Populations whose size is
not a multiple of the device count are padded by repeating the last member; the
padding is dropped from every result.
"""

import jax
import numpy as np
from jax.sharding import AxisType, NamedSharding, PartitionSpec

POP_AXIS = "pop"


def population_mesh(devices=None) -> jax.sharding.Mesh:
    """A mesh with one Auto axis named "pop" over `devices` (default: all)."""
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


def shard_population(tree, mesh):
    """Place leaves with their leading (population) axis split over the mesh."""
    sharding = NamedSharding(mesh, PartitionSpec(POP_AXIS))
    return jax.device_put(tree, sharding)


def replicate(tree, mesh):
    """Place leaves fully replicated on every device of the mesh."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))
