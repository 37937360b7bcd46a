"""The MAML-initialised row of the episodes-to-target experiment
(`run.episodes`, seeds/000's MAML row): an env table's `maml` sub-table
meta-trains the table's own on-policy learner (PPO) with MAML over the
env's task distribution, one meta-learner per seed (a vmap); the final
training then runs that learner at its defaults from the meta-learned
weights instead of a fresh initialisation, so the "maml" row differs from
the "defaults" row only in where training starts.

The sub-table (absent or empty: no MAML row):

    meta_iterations  int, MAML meta-iterations (default 20)
    chunks           int, driver chunks they are split into (default 2)
    adapter          MAML's static fields (meta_batch_size, num_episodes,
                     horizon, inner_steps, first_order, estimator, ...)
    hparams          MAML's hyperparameters (outer_lr, gamma, ...)
    learner_hparams  the inner step's learner hparams (e.g. learning_rate)
    tasks            the task distribution's ranges (field -> [low, high])

Meta-training costs are counted as the row's tuning env steps
(`MAML.steps_per_iteration` per meta-iteration) and seconds.
"""

import jax
import jax.numpy as jnp
import numpy as np

from jaxmeta.adapt import make_adapter
from jaxmeta.adapt.base import meta_train_from
from jaxmeta.envs.tasks import task_distribution
from jaxmeta.learners import hparams_with
from jaxmeta.learners.base import check_hparams
from jaxmeta.validation import check_names, coerce

MAML_FIELDS = {
    "meta_iterations": int,
    "chunks": int,
    "adapter": dict,
    "hparams": dict,
    "learner_hparams": dict,
    "tasks": dict,
}
MAML_DEFAULTS = {
    "meta_iterations": 20,
    "chunks": 2,
    "adapter": {},
    "hparams": {},
    "learner_hparams": {},
    "tasks": {},
}
# Fields of MAML's static config the experiment sets itself.
OWNED = ("env", "tasks", "learner")


def check_maml_spec(spec, where: str) -> dict:
    """Names, types and ranges of a `maml` sub-table ({} when absent)."""
    if not spec:
        return {}
    check_names(f"{where} field", spec, tuple(MAML_FIELDS))
    spec = {**MAML_DEFAULTS, **spec}
    for name, kind in MAML_FIELDS.items():
        spec[name] = coerce(f"{where}.{name}", spec[name], kind)
    for name in ("meta_iterations", "chunks"):
        if spec[name] < 1:
            raise ValueError(f"{where}.{name} must be >= 1, got {spec[name]!r}")
    if spec["meta_iterations"] % spec["chunks"]:
        raise ValueError(
            f"{where}.meta_iterations ({spec['meta_iterations']}) must be a "
            f"multiple of {where}.chunks ({spec['chunks']})"
        )
    taken = sorted(set(spec["adapter"]) & set(OWNED))
    if taken:
        raise ValueError(
            f"{where}.adapter cannot set {taken}: the env table fixes the env, "
            "its task distribution (set it in maml.tasks) and the learner"
        )
    return spec


def build_adapter(spec: dict, env_name: str, env, env_params, learner, where: str):
    """`(adapter, hparams)`: MAML over `learner`'s update on `env_name`'s
    task distribution with `spec`'s ranges around `env_params`. Errors
    (no task distribution, a learner MAML cannot differentiate, bad fields)
    name `where`, before anything compiles."""
    try:
        tasks = task_distribution(env_name, env_params, **spec["tasks"])
        adapter = make_adapter(
            "maml", env, tasks=tasks, learner=learner, **spec["adapter"]
        )
        hparams = hparams_with(adapter.default_hparams(), **spec["hparams"])
        inner = hparams_with(hparams.learner_hparams, **spec["learner_hparams"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: {error}") from None
    check_hparams(adapter, hparams, f"{where}.hparams")
    check_hparams(learner, inner, f"{where}.learner_hparams")
    hparams = hparams.replace(learner_hparams=inner)
    return adapter, hparams


def meta_steps_per_chunk(adapter, spec: dict) -> int:
    """Env steps one seed's meta-training samples in one chunk (nominal)."""
    per_chunk = spec["meta_iterations"] // spec["chunks"]
    return adapter.steps_per_iteration * per_chunk


def _meta_init(adapter, keys, hparams):
    """[seeds] MetaStates, one per key."""
    return jax.vmap(adapter.init, in_axes=(0, None))(keys, hparams)


def _meta_chunk(adapter, keys, states, hparams, num_iterations: int):
    """`num_iterations` more meta-iterations of every seed's meta-learner.
    Returns `(states, post_return [seeds, num_iterations])`."""
    states, metrics = jax.vmap(meta_train_from, in_axes=(None, 0, 0, None, None))(
        adapter, keys, states, hparams, num_iterations
    )
    return states, metrics["meta/post_return"]


meta_init_jit = jax.jit(_meta_init, static_argnums=0)
meta_chunk_jit = jax.jit(_meta_chunk, static_argnums=(0, 4))


def meta_keys(key, env_index: int, seeds: int):
    """(init keys [seeds], iteration keys [seeds]) of env `env_index`'s
    meta-learners."""
    base = jax.random.fold_in(key, 60_000 + env_index)
    keys = jax.random.split(base, 2 * seeds)
    return keys[:seeds], keys[seeds:]


def with_meta_params(members: dict, params, count: int) -> dict:
    """`members` (a `start_members` record, leaves [size, ...]) whose first
    `count` learner states start from `params` (leaves [count, ...]; the
    padding members repeat the last)."""
    size = jax.tree_util.tree_leaves(members["hparams"])[0].shape[0]
    index = jnp.minimum(jnp.arange(size), count - 1)
    padded = jax.tree_util.tree_map(lambda x: x[index], params)
    learner = members["learner"].replace(params=padded)
    return {**members, "learner": learner}


def meta_report(experiment, where, outputs, host, sink) -> list[str]:
    """A MAML meta-training chunk: its cost per seed and, in maml.csv, the
    post-adaptation return (the meta-objective's) of every meta-iteration."""
    env = experiment.parts[where.env].spec["env"]
    post = np.asarray(outputs["post_return"], float)
    first = where.sub * post.shape[1]
    sink.append("maml.csv", [
        {"env": env, "seed": seed, "meta_iteration": first + k,
         "post_adaptation_return": float(post[seed, k])}
        for seed in range(post.shape[0]) for k in range(post.shape[1])
    ])  # fmt: skip
    for seed in range(post.shape[0]):
        cost = host["cost"].setdefault(
            f"{env}/maml/{seed}", {"env_steps": 0, "seconds": 0.0}
        )
        cost["env_steps"] += int(outputs["env_steps"])
        cost["seconds"] += float(outputs["seconds"]) / post.shape[0]
    diverged = np.flatnonzero(np.asarray(outputs["diverged"]))
    last = np.nanmean(post[:, -1])
    lines = [f"{env} maml: post-adaptation return {last:.1f} (mean over seeds)"]
    if diverged.size:
        lines.append(f"{env} maml: seeds {diverged.tolist()} diverged (frozen)")
    return lines
