"""Task distributions as the adapters use them: found for an env, checked
before anything compiles, sampled into meta-batches, and the "medium task"
of Directed-MAML.

An adapter's tasks are a `sample(key) -> env_params` distribution
(`envs/tasks.py`). Left out, the env's own distribution is used when it has
one (`envs.tasks.TASK_DISTRIBUTIONS`, built on the env's default params so
its other fields are kept).
"""

import math

import jax
import jax.numpy as jnp

from jaxmeta.envs.tasks import TASK_DISTRIBUTIONS, task_distribution


def resolve_tasks(env, tasks):
    """`tasks`, or the env's default distribution when it is None.

    Raises ValueError naming `tasks` (and the envs that have a distribution)
    when there is none, when it has no `sample`, or when it draws params of
    another type than the env's.
    """
    if tasks is None:
        name = getattr(env, "name", type(env).__name__)
        if name not in TASK_DISTRIBUTIONS:
            raise ValueError(
                f"tasks: env {name!r} has no task distribution; pass tasks= "
                f"(e.g. jaxmeta.envs.tasks.CartPoleTasks()) or use an env that "
                f"has one; allowed values: {', '.join(sorted(TASK_DISTRIBUTIONS))}"
            )
        tasks = task_distribution(name, env.default_params)
    if not callable(getattr(tasks, "sample", None)):
        raise ValueError(
            f"tasks must be a task distribution with sample(key) -> env_params "
            f"(see jaxmeta/envs/tasks.py), got {tasks!r}"
        )
    base = getattr(tasks, "base_params", None)
    if base is not None and type(base) is not type(env.default_params):
        raise ValueError(
            f"tasks draws {type(base).__name__} but the env takes "
            f"{type(env.default_params).__name__}; allowed values: a "
            f"distribution whose base_params is the env's params type"
        )
    return tasks


def check_meta_batch(meta_batch_size: int, task_pool: int | None) -> None:
    """A meta-batch drawn without replacement must fit in the task pool."""
    if task_pool is None:
        return
    if not isinstance(task_pool, int) or isinstance(task_pool, bool) or task_pool <= 0:
        raise ValueError(
            f"task_pool must be None (fresh tasks) or a positive integer, "
            f"got {task_pool!r}"
        )
    if meta_batch_size > task_pool:
        raise ValueError(
            f"meta_batch_size ({meta_batch_size}) must be at most task_pool "
            f"({task_pool}): a meta-batch draws tasks from the pool without "
            f"replacement; allowed values: 1 to {task_pool}"
        )


def sample_meta_batch(key, tasks, size: int, task_pool: int | None, pool_seed: int):
    """`size` tasks, every leaf `[size, ...]`: fresh draws from `tasks`, or a
    draw without replacement from the fixed pool of `task_pool` tasks made
    from `pool_seed` (the same pool at every meta-iteration)."""
    if task_pool is None:
        return jax.vmap(tasks.sample)(jax.random.split(key, size))
    pool_keys = jax.random.split(jax.random.key(pool_seed), task_pool)
    pool = jax.vmap(tasks.sample)(pool_keys)
    chosen = jax.random.permutation(key, task_pool)[:size]
    return jax.tree_util.tree_map(lambda x: x[chosen], pool)


def medium_task(tasks):
    """Directed-MAML's medium task: every range field of a `TaskDistribution`
    at the midpoint of its range (derived fields recomputed). Raises
    ValueError for a distribution without declared ranges."""
    domains = getattr(tasks, "domains", None)
    if not domains or not hasattr(tasks, "base_params"):
        raise ValueError(
            f"tasks must be a TaskDistribution with range fields (domains) to "
            f"place Directed-MAML's medium task, got {tasks!r}"
        )
    values = {}
    for name in domains:
        low, high = getattr(tasks, name)
        middle = 0.5 * (low + high)
        if not math.isfinite(middle):
            raise ValueError(f"tasks.{name} has no finite midpoint: {low}, {high}")
        shape = tasks.shapes.get(name, ())
        values[name] = jnp.full(shape, middle, jnp.float32)
    return tasks.derive(tasks.base_params.replace(**values))
