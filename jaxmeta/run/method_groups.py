"""What the experiments that compare fixed learners ("methods", `count`
agents each, agent i with the same key in every method) share on the
driver: starting every method's agents, and a chunk of training followed
by each method's own evaluation (maxq, hdqn, hiro), and checking their
`methods` tables (maxq, hdqn, option-critic)."""

import time

import jax
import jax.numpy as jnp

from jaxmeta.run import driver
from jaxmeta.run.population import start_members_jit, train_members
from jaxmeta.run.results import check_run_name
from jaxmeta.run.sharding import pad_population, padded_size
from jaxmeta.validation import check_names


def start_methods(key, learners: dict, hparams: dict, env_params: dict, count, mesh):
    """The driver state of every method's `count` agents: learners, hparams
    (one set per method, broadcast) and env_params keyed by method name;
    agent i's key is `split(key, count)[i]` in every method; the population
    padded to the mesh and placed on it."""
    size = padded_size(count, mesh)
    keys = pad_population(jax.random.split(key, count), count, size)
    population = {}
    for name, learner in learners.items():
        batched = jax.tree_util.tree_map(lambda x: jnp.full((size,), x), hparams[name])
        population[name] = start_members_jit(
            learner, keys, batched, env_params[name], False
        )
    return driver.place_state({"population": population, "shared": {}}, mesh)


def train_methods(state, learners: dict, env_params: dict, first_update, updates,
                  count, evaluate, keep=()):  # fmt: skip
    """`updates` more updates of every method's agents in `state` (from
    `start_methods`), then `evaluate(name, learner, states)` on the `count`
    real agents' learner states (leaves [count, ...]), a dict of outputs.

    Returns `(state, outputs)`: per method the evaluation's entries plus
    "episode_return" and "episodes" ([count, updates], the training
    episodes), the metrics named in `keep` that the method reports
    ([count, updates] each), "failure" ([count] codes) and "seconds"
    (training and evaluation wall time)."""
    population, outputs = dict(state["population"]), {}
    for name, learner in learners.items():
        began = time.perf_counter()
        members, metrics = train_members(
            learner, population[name], env_params[name], first_update, updates
        )
        population[name] = members
        real = jax.tree_util.tree_map(lambda x: x[:count], members["learner"])
        outputs[name] = {
            "episode_return": metrics["episode_return"][:count],
            "episodes": metrics["episodes"][:count],
            **{k: metrics[k][:count] for k in keep if k in metrics},
            "failure": members["failure"]["code"][:count],
            **evaluate(name, learner, real),
        }
        jax.block_until_ready(outputs[name])
        outputs[name]["seconds"] = time.perf_counter() - began
    return {"population": population, "shared": state["shared"]}, outputs


def checked_method_tables(methods, fields, learners, fixed: set, why: str) -> tuple:
    """A comparison config's `methods` tables, checked before anything
    compiles: a non-empty list of tables of `fields`, each with a "name" (a
    run name, distinct) and a "learner" (one of `learners`), whose
    learner_config and hparams are tables and whose learner_config sets none
    of `fixed` (`why` says why in the error). Returns the tables with empty
    learner_config and hparams filled in."""
    if not isinstance(methods, (list, tuple)) or not methods:
        raise ValueError("methods must hold at least one table")
    checked = []
    for i, method in enumerate(methods):
        where = f"methods[{i}]"
        if not isinstance(method, dict):
            raise TypeError(f"{where} must be a table, got {method!r}")
        check_names(f"{where} field", method, fields)
        for field in ("name", "learner"):
            if field not in method:
                raise ValueError(f"{where} needs {field}")
        check_names(f"{where}.learner", [method["learner"]], learners)
        check_run_name(method["name"])
        for table in ("learner_config", "hparams"):
            value = method.get(table, {})
            if not isinstance(value, dict):
                raise TypeError(f"{where}.{table} must be a table, got {value!r}")
        given = fixed & set(method.get("learner_config", {}))
        if given:
            raise ValueError(
                f"{where}.learner_config may not set {sorted(given)}: {why}"
            )
        checked.append({"learner_config": {}, "hparams": {}, **method})
    names = [m["name"] for m in checked]
    if len(set(names)) != len(names):
        raise ValueError(f"method names must be distinct, got {names}")
    return tuple(checked)
