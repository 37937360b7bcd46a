"""What the episodes-to-target experiment (`run.episodes`) is built from:
per env, the tune experiment of each searcher (successive halving sized to
the ask/tell searchers' budget in member-updates), the final-training
groups, and the pieces its step reads from a finished tune run (the config
found, the env steps of a chunk). Every check runs here, before anything
compiles."""

import dataclasses

import jax
import jax.numpy as jnp

from jaxmeta.envs import make
from jaxmeta.learners import hparams_with
from jaxmeta.learners.base import check_hparams
from jaxmeta.learners.registry import make_learner
from jaxmeta.run.episodes_config import EpisodesConfig, check_target
from jaxmeta.run.episodes_maml import build_adapter
from jaxmeta.run.multi_fidelity import MultiFidelityExperiment, tune_experiment
from jaxmeta.run.multi_fidelity_config import schedule, slot_name
from jaxmeta.run.population import MAX_ENV_STEPS
from jaxmeta.run.sharding import padded_size
from jaxmeta.run.tune_config import TuneConfig
from jaxmeta.search.successive_halving import METHODS

TUNE_FIELDS = (
    "env", "env_config", "learner", "learner_config", "dims", "population_size",
    "rounds", "num_updates", "chunk_size", "eval_episodes", "eval_max_steps",
    "eval_deterministic",
)  # fmt: skip


def member_updates(brackets, rounds: int) -> int:
    """Member-updates a multi-fidelity schedule trains in `rounds` rounds."""
    total = 0
    for rungs in brackets:
        done = 0
        for rung in rungs:
            total, done = total + rung.members * (rung.budget - done), rung.budget
    return total * rounds


def _multi_fidelity_values(values: dict, budget: int, where: str) -> dict:
    """One round of the schedule with the most member-updates within
    `budget` (that of the ask/tell searchers), the most configs on a tie."""
    best = None
    for size in range(2, 4 * budget // values["num_updates"] + 3):
        trial = {**values, "population_size": size, "rounds": 1}
        try:
            cost = member_updates(schedule(TuneConfig(**trial))[1], 1)
        except ValueError:
            continue
        if cost <= budget and (best is None or cost >= best[0]):
            best = (cost, trial)
    if best is None:
        raise ValueError(
            f"{where}: no {values['searcher']} schedule fits the budget of "
            f"{budget} member-updates (population_size x rounds x num_updates); "
            f"raise the budget or set searcher_config.eta / min_budget"
        )
    return best[1]


def tune_values(spec: dict, searcher: dict, where: str) -> dict:
    """The tune config of one env table and searcher table."""
    values = {name: spec[name] for name in TUNE_FIELDS}
    if "return_bounds" in spec:
        values["return_bounds"] = spec["return_bounds"]
    values.update(
        name=f"{searcher['label']}-tune",
        searcher=searcher["searcher"],
        searcher_config=searcher["searcher_config"],
        calibrate_online=searcher["calibrate_online"],
    )
    if "calibration_rounds" in searcher:
        values["calibration_rounds"] = searcher["calibration_rounds"]
    if searcher["searcher"] in METHODS:
        budget = spec["population_size"] * spec["rounds"] * spec["num_updates"]
        values = _multi_fidelity_values(values, budget, where)
    return values


@dataclasses.dataclass(frozen=True)
class Group:
    """A vmapped final-training group: `labels[i]` names member i."""

    name: str
    learner: object
    labels: tuple[str, ...]
    updates_per_chunk: int


@dataclasses.dataclass(eq=False)  # compared by identity (holds arrays)
class EnvPart:
    """One env's built pieces; `space` is its tuners' (shared) search space."""

    spec: dict
    env_params: object
    space: object
    tuners: list  # per searcher: a tune experiment
    tuned: Group  # found configs, then the defaults
    reference: Group | None
    maml: Group | None = None  # the tuned learner from meta-learned weights
    adapter: object = None  # MAML over the tuned learner (with `maml`)
    meta_hparams: object = None  # its hparams


@dataclasses.dataclass(frozen=True)
class Where:
    """What driver chunk c does: a tuning chunk of (env, searcher, seed) or a
    final-training chunk of env."""

    env: int
    searcher: int  # -1: final training, -2: MAML meta-training
    seed: int
    sub: int  # chunk within the tuning run / final training
    last: bool


def _group(name, learner, labels, spec, where) -> Group:
    nominal = learner.steps_per_update
    per_chunk = spec["final_env_steps"] // (nominal * spec["final_chunks"])
    if per_chunk < 1:
        raise ValueError(
            f"{where}.final_env_steps ({spec['final_env_steps']}) is below one "
            f"update per chunk of {name} ({nominal} steps x {spec['final_chunks']} "
            f"final_chunks)"
        )
    if per_chunk * spec["final_chunks"] * nominal > MAX_ENV_STEPS:
        raise ValueError(f"{where}.final_env_steps is over the int32 step counter")
    return Group(name, learner, tuple(labels), per_chunk)


def env_part(spec, config: EpisodesConfig, where: str) -> EnvPart:
    """Everything one env table runs (target checked first): a tune
    experiment per searcher, the final groups (tuned: one member per
    (searcher, seed) then the defaults per seed; reference and maml: one per
    seed) and, with a `maml` sub-table, the MAML adapter."""
    env, env_params = make(spec["env"], **spec["env_config"])
    check_target(spec["env"], env_params, spec["target"], where)
    tuners = [
        tune_experiment(TuneConfig(**tune_values(spec, s, f"{where} {s['label']}")))
        for s in config.searchers
    ]
    final = make_learner(
        spec["learner"],
        env,
        **{**spec["learner_config"], **spec["final_learner_config"]},
    )
    labels = [s["label"] for s in config.searchers] + ["defaults"]
    tuned = _group("tuned", final, labels, spec, where)
    reference = None
    if spec["reference"]:
        ref = spec["reference"]
        learner = make_learner(ref["learner"], env, **ref.get("learner_config", {}))
        reference = _group("reference", learner, [ref["learner"]], spec, where)
        hparams = hparams_with(learner.default_hparams(), **ref.get("hparams", {}))
        check_hparams(learner, hparams, f"{where}.reference.hparams")
    part = EnvPart(spec, env_params, tuners[0].space, tuners, tuned, reference)
    if spec["maml"]:
        adapter, meta_hparams = build_adapter(
            spec["maml"], spec["env"], env, env_params, final, f"{where}.maml"
        )
        maml = _group("maml", final, ["maml"], spec, where)
        part = dataclasses.replace(
            part, maml=maml, adapter=adapter, meta_hparams=meta_hparams
        )
    return part


def broadcast(hparams, count: int):
    """`hparams` with every leaf repeated on a new leading axis `[count]`."""
    return jax.tree_util.tree_map(
        lambda x: jnp.broadcast_to(jnp.asarray(x), (count,) + jnp.shape(x)), hparams
    )


def tuned_steps(tuner, sub_chunk: int) -> int:
    """Training env steps of one chunk of a tune experiment (real members)."""
    c, per_update = tuner.config, tuner.learner.steps_per_update
    if isinstance(tuner, MultiFidelityExperiment):
        where = tuner.plan[sub_chunk]
        members = tuner.brackets[where.bracket][where.rung].members
    else:
        members = c.population_size
    return members * c.chunk_size * per_update


def found_config(tuner, sub_state, mesh):
    """`(z [dim], eval_return [])` of the best config a finished tune run
    found; for successive halving, among its last rung (trained to the full
    budget). NaN return (and the default config's z) if every trial failed."""
    shared = sub_state["shared"]
    if isinstance(tuner, MultiFidelityExperiment):
        last = tuner.brackets[-1][-1]
        slot = sub_state["population"][slot_name(padded_size(last.members, mesh))]
        member = slot["member"]
        reached = shared["asked"]["reached"][jnp.maximum(member, 0)]
        returns = jnp.where(member >= 0, reached, jnp.nan)
        z_all = tuner.space.from_hparams(shared["asked"]["hparams"])
        z_all = z_all[jnp.maximum(member, 0)]
    else:
        history = shared["history"]
        returns = jnp.where(history["mask"], history["returns"], jnp.nan)
        z_all = history["z"]
    valid = jnp.isfinite(returns)
    best = jnp.argmax(jnp.where(valid, returns, -jnp.inf))
    default = tuner.space.from_hparams(tuner.space.base)
    z = jnp.where(valid.any(), z_all[best], default)
    return z, jnp.where(valid.any(), returns[best], jnp.nan)
