"""A population of training runs: pure, jitted pieces and `train_population`.

Member i trains with key `split(key, pop)[i]`, exactly as the unbatched
`train(learner, keys[i], hparams[i], env_params, num_updates)`; env_params are
shared by every member or, with `per_member_tasks`, batched `[pop, ...]` (a task
per member). The pieces (`init_population`, `train_chunk`) are what experiments
compose; `train_population` drives them through `run.driver` (progress, and
sharding over every device) without writing files.
"""

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxmeta.learners.base import (
    FAILURE_EVAL,
    FAILURE_NONE,
    check_hparams,
    split_train_key,
    train_from,
)
from jaxmeta.run import driver
from jaxmeta.validation import check_in_domains

MAX_ENV_STEPS = 2**31 - 1  # the int32 `env_steps` counter of every learner


def population_size_of(hparams) -> int:
    """The population size of batched `hparams`: every leaf must be `[pop]`.

    Raises ValueError naming the fields that are not batched like the others.
    """
    if not dataclasses.is_dataclass(hparams):
        raise TypeError(
            f"hparams must be a learner's hparams struct, got {type(hparams).__name__}"
        )
    shapes = {
        f.name: np.shape(getattr(hparams, f.name)) for f in dataclasses.fields(hparams)
    }
    leading = {name: shape[0] for name, shape in shapes.items() if len(shape) >= 1}
    scalar = sorted(name for name, shape in shapes.items() if len(shape) == 0)
    if scalar:
        raise ValueError(
            f"hparams must be batched [population_size] in every field; not "
            f"batched: {', '.join(scalar)} (use jnp.full((pop,), value))"
        )
    sizes = sorted(set(leading.values()))
    if len(sizes) > 1:
        detail = ", ".join(f"{n}: {s}" for n, s in sorted(leading.items()))
        raise ValueError(f"hparams fields must share one population size; got {detail}")
    pop = sizes[0]
    if pop <= 0:
        raise ValueError(f"population_size must be positive, got {pop}")
    return int(pop)


def check_chunking(num_updates, chunk_size) -> None:
    """num_updates > 0 and chunk_size a positive divisor of it (so every chunk
    has the same length and compiles once)."""
    for name, value in (("num_updates", num_updates), ("chunk_size", chunk_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if num_updates % chunk_size:
        divisors = [d for d in range(1, num_updates + 1) if num_updates % d == 0]
        shown = ", ".join(map(str, divisors[:12])) + (
            ", ..." if len(divisors) > 12 else ""
        )
        raise ValueError(
            f"chunk_size ({chunk_size}) must divide num_updates ({num_updates}); "
            f"allowed values: {shown}"
        )


def check_budget(learner, num_updates: int) -> None:
    """The run's env steps must fit the int32 `env_steps` counter."""
    steps = getattr(learner, "steps_per_update", 0) * num_updates
    if steps > MAX_ENV_STEPS:
        raise ValueError(
            f"num_updates x steps_per_update = {steps} env steps per member; "
            f"allowed: at most {MAX_ENV_STEPS} (the int32 env_steps counter)"
        )


def member_keys(key, population_size: int):
    """One training key per member, `[pop]`: `split(key, pop)` for one key; a
    `[pop]` array of keys is used as it is (to rerun chosen members alone)."""
    if key.shape == ():
        return jax.random.split(key, population_size)
    if key.shape != (population_size,):
        raise ValueError(
            f"key must be one key or [population_size={population_size}] keys, "
            f"got shape {key.shape}"
        )
    return key


def init_population(learner, keys, hparams, env_params, per_member_tasks: bool):
    """keys: [pop] training keys; hparams leaves [pop]; env_params shared or
    [pop, ...]. Returns `(states, keys_updates)`, leaves `[pop, ...]`."""

    def init_one(key, hp, task):
        key_init, key_updates = split_train_key(key)
        return learner.init(key_init, hp, task), key_updates

    task_axis = 0 if per_member_tasks else None
    states, keys_updates = jax.vmap(init_one, in_axes=(0, 0, task_axis))(
        keys, hparams, env_params
    )
    # Some envs reset to weakly typed leaves (Pendulum's last_u); an update
    # makes them strong, so the first chunk would compile a program of its own.
    states = jax.tree_util.tree_map(
        lambda x: jax.lax.convert_element_type(x, x.dtype), states
    )
    return states, keys_updates


def train_chunk(
    learner, keys_updates, states, hparams, env_params, num_updates, per_member_tasks
):
    """`num_updates` more updates of every member. Returns `(states, metrics)`,
    metrics `{name: [pop, num_updates]}`."""

    def run_one(key, state, hp, task):
        return train_from(learner, key, state, hp, task, num_updates)

    task_axis = 0 if per_member_tasks else None
    return jax.vmap(run_one, in_axes=(0, 0, 0, task_axis))(
        keys_updates, states, hparams, env_params
    )


def first_failures(failure, metrics, first_update):
    """Fold one chunk's `train/failure` codes into the first failure of each
    member. failure: {"code": [pop] int32, "update": [pop] int32 (-1: none)};
    metrics["train/failure"]: [pop, chunk]; first_update: [] index of the
    chunk's first update. Returns the new failure dict."""
    codes = metrics["train/failure"]
    failed_here = codes != FAILURE_NONE
    first = jnp.argmax(failed_here, axis=1)
    new = (failure["code"] == FAILURE_NONE) & failed_here.any(axis=1)
    return {
        "code": jnp.where(
            new, jnp.take_along_axis(codes, first[:, None], 1)[:, 0], failure["code"]
        ),
        "update": jnp.where(new, first_update + first, failure["update"]),
    }


def no_failures(size: int):
    """A failure record `{"code", "update"}` of `size` members, none failed."""
    return {
        "code": jnp.full(size, FAILURE_NONE, jnp.int32),
        "update": jnp.full(size, -1, jnp.int32),
    }


def _chunk_and_failures(
    learner,
    keys_updates,
    states,
    hparams,
    env_params,
    failure,
    first_update,
    num_updates,
    per_member_tasks,
):
    states, metrics = train_chunk(
        learner,
        keys_updates,
        states,
        hparams,
        env_params,
        num_updates,
        per_member_tasks,
    )
    return states, metrics, first_failures(failure, metrics, first_update)


_chunk_jit = jax.jit(_chunk_and_failures, static_argnums=(0, 7, 8), donate_argnums=(2,))


def start_members(learner, keys, hparams, env_params, per_member_tasks: bool) -> dict:
    """The record of a population at its start, as experiments keep it: keys
    [size] typed training keys, hparams leaves [size], env_params as
    `init_population`. Returns {"hparams", "learner" (states), "keys" (the
    update keys' data), "failure" (`no_failures`)}, leaves [size, ...]."""
    states, keys_updates = init_population(
        learner, keys, hparams, env_params, per_member_tasks
    )
    return {
        "hparams": hparams,
        "learner": states,
        "keys": jax.random.key_data(keys_updates),
        "failure": no_failures(keys.shape[0]),
    }


start_members_jit = jax.jit(start_members, static_argnums=(0, 4))


def train_members(
    learner, members, env_params, first_update, num_updates, per_member_tasks=False
):
    """`num_updates` more updates of every member of a record made by
    `start_members` (other entries pass through), the first being update
    `first_update`; failures recorded. Returns `(members, metrics)`, metrics
    leaves [size, num_updates]."""
    states, metrics, failure = _chunk_jit(
        learner,
        jax.random.wrap_key_data(members["keys"]),
        members["learner"],
        members["hparams"],
        env_params,
        members["failure"],
        first_update,
        num_updates,
        per_member_tasks,
    )
    return {**members, "learner": states, "failure": failure}, metrics


def train_population(
    learner,
    key,
    hparams,
    env_params,
    num_updates: int,
    chunk_size: int | None = None,
    progress_fn: Callable[[int, dict], None] | None = None,
    mesh=None,
    per_member_tasks: bool = False,
):
    """Train every member of `hparams` (leaves `[pop]`) for `num_updates`.

    key: one key (member i trains with `split(key, pop)[i]`) or `[pop]` keys.
    chunk_size: updates per compiled chunk (a divisor of num_updates; default
    all at once); metrics come to the host and `progress_fn(updates_done,
    metrics_of_chunk)` runs between chunks. env_params: shared, or `[pop, ...]`
    with `per_member_tasks`. The population is sharded over `mesh` (default:
    every device).

    Returns `(states, metrics, info)`: final learner states (leaves `[pop,
    ...]`), host metrics `{name: np.ndarray [pop, num_updates]}` and `info` with
    timings (`compile_s`, `train_s`, `steady_chunk_s`, `chunk_size`) and the
    first failure of each member (`failure_code`, `failure_update`: [pop]).
    """
    pop = population_size_of(hparams)
    check_hparams(learner, hparams)
    chunk_size = num_updates if chunk_size is None else chunk_size
    check_chunking(num_updates, chunk_size)
    check_budget(learner, num_updates)
    if per_member_tasks:
        bad = [
            np.shape(x)
            for x in jax.tree_util.tree_leaves(env_params)
            if np.ndim(x) == 0 or np.shape(x)[0] != pop
        ]
        if bad:
            raise ValueError(
                f"per_member_tasks needs every env_params leaf batched "
                f"[population_size={pop}, ...]; got leaves of shape {bad[0]}"
            )
    from jaxmeta.run.population_training import PopulationTraining

    experiment = PopulationTraining(
        learner,
        hparams,
        env_params,
        num_updates,
        chunk_size,
        per_member_tasks,
        progress_fn,
    )
    options = driver.RunOptions(quiet=True)
    state, _, info = driver.run(experiment, None, options, key=key, mesh=mesh)
    chunks = experiment.chunks
    host = {k: np.concatenate([c[k] for c in chunks], axis=1) for k in chunks[0]}
    failure = driver.to_host(state["population"]["failure"])
    info.update(
        chunk_size=chunk_size,
        failure_code=failure["code"][:pop],
        failure_update=failure["update"][:pop],
    )
    states = jax.tree_util.tree_map(lambda x: x[:pop], state["population"]["learner"])
    return states, host, info


def evaluate_members(
    learner, key, states, failure, env_params, episodes, max_steps, deterministic
):
    """Mean return of each member over `episodes` fresh episodes (member i
    with key `split(key, pop)[i]`, or `key[i]` for `[pop]` keys) and its
    failure code, FAILURE_EVAL added for a non-finite evaluation. states:
    [pop] leaves; failure: {"code"}. Returns `(mean_return [pop], code [pop]
    int32)`."""
    from jaxmeta.learners.common.evaluate import evaluate

    pop = failure["code"].shape[0]
    returns, _ = jax.vmap(evaluate, in_axes=(None, 0, 0, None, None, None, None))(
        learner, member_keys(key, pop), states, env_params, episodes,
        max_steps, deterministic,
    )  # fmt: skip
    mean_return = jnp.mean(returns, axis=1)
    code = failure["code"]
    code = jnp.where(
        (code == FAILURE_NONE) & ~jnp.isfinite(mean_return), FAILURE_EVAL, code
    )
    return mean_return, code


def evaluate_greedy(learner, key, states, failure, env_params, episodes, max_steps):
    """`evaluate_members` with each policy's mode (greedy evaluation)."""
    return evaluate_members(
        learner, key, states, failure, env_params, episodes, max_steps, True
    )


# One program per (learner, episodes, max_steps): the comparison tables'
# and the episodes-to-target experiment's greedy evaluations.
evaluate_greedy_jit = jax.jit(evaluate_greedy, static_argnums=(0, 5, 6))


def build_population(config):
    """`(env, env_params, learner, space)` of a `PopulationConfig`, every name
    and number checked (env, learner config, dims against the learner's
    hparams and their domains, the env-step budget) before anything compiles.
    Categorical dims are refused: the searchers and PBT move continuous dims
    only."""
    from jaxmeta.envs import make
    from jaxmeta.learners.registry import make_learner
    from jaxmeta.search import Categorical, SearchSpace

    env, env_params = make(config.env, **config.env_config)
    learner = make_learner(config.learner, env, **config.learner_config)
    categorical = [n for n, d in config.dims.items() if isinstance(d, Categorical)]
    if categorical:
        raise ValueError(
            f"dims {', '.join(categorical)}: Categorical dims are not supported "
            f"by {config.KIND} (its search moves continuous dims only); allowed "
            f"kinds: log_uniform, uniform, logit. Sweep a static field with "
            f"separate runs (--set learner_config.FIELD=VALUE)"
        )
    space = SearchSpace(learner.default_hparams(), **config.dims)
    check_hparams(learner, space.base)
    domains = getattr(learner, "hparam_domains", {})
    for name, dim in config.dims.items():
        if name in domains:
            ends = {name: [dim.low, dim.high]}
            check_in_domains(f"dims ({config.learner})", ends, domains)
    check_budget(learner, config.num_updates)
    return env, env_params, learner, space
