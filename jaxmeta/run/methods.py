"""Methods of a comparison: a learner from a plain spec, optionally wrapped
by BiERL's meta-trained controller or by PBT.

A spec is a table (TOML-able):

    {name = "bierl", learner = "es", learner_config = {...}, hparams = {...},
     envs = [...],                      # optional: only these envs
     bierl = {controller = {...}, meta_population = 200, meta_every = 10,
              fitness_population = 10, truncation = 1,
              warm_start = {env = "brax-inverted_pendulum", updates = 10}},
     pbt = {members = 4, interval = 10, quantile = 0.25,
            dims = {sigma = {kind = "log_uniform", low = 0.005, high = 0.2}}}}

`hparams` override the learner's defaults (for BiERL: the inner learner's
base hparams; for PBT: the fields the search space does not cover).
"""

import dataclasses

from jaxmeta.learners import hparams_with
from jaxmeta.learners.base import check_hparams
from jaxmeta.learners.registry import make_learner
from jaxmeta.run.config import dim_from_table
from jaxmeta.validation import check_names, checked_fields, coerce

SPEC_FIELDS = ("name", "learner", "learner_config", "hparams", "envs", "bierl", "pbt")
BIERL_FIELDS = (
    "controller",
    "meta_population",
    "meta_every",
    "fitness_population",
    "truncation",
    "warm_start",
)
PBT_FIELDS = (
    "members",
    "interval",
    "quantile",
    "resample_probability",
    "perturb_factors",
    "dims",
)


@dataclasses.dataclass(frozen=True)
class Method:
    """A built method for one env: the learner to train (already wrapped),
    its hparams, and the warm-start request (env name, updates) or None."""

    name: str
    learner: object
    hparams: object
    warm_start: tuple | None = None


def check_spec(spec, where: str) -> dict:
    """Field names and types of a method spec (before anything is built)."""
    if not isinstance(spec, dict):
        raise TypeError(f"{where} must be a table, got {spec!r}")
    check_names(f"{where} field", spec, SPEC_FIELDS)
    for name in ("name", "learner"):
        if name not in spec:
            raise ValueError(f"{where} needs {name}")
        coerce(f"{where}.{name}", spec[name], str)
    if "bierl" in spec and "pbt" in spec:
        raise ValueError(f"{where}: choose one of bierl and pbt, not both")
    for wrapper, fields in (("bierl", BIERL_FIELDS), ("pbt", PBT_FIELDS)):
        if wrapper in spec:
            check_names(f"{where}.{wrapper} field", spec[wrapper], fields)
    return spec


def applies_to(spec: dict, env_name: str) -> bool:
    envs = spec.get("envs")
    return envs is None or env_name in envs


def build_method(spec: dict, env, where: str) -> Method:
    """The learner of `spec` on `env` with its hparams, every check run."""
    learner = make_learner(spec["learner"], env, **spec.get("learner_config", {}))
    hparams = hparams_with(learner.default_hparams(), **spec.get("hparams", {}))
    check_hparams(learner, hparams, f"{where}.hparams")
    if "bierl" in spec:
        return _bierl(spec, learner, hparams, where)
    if "pbt" in spec:
        return _pbt(spec, learner, hparams, where)
    return Method(spec["name"], learner, hparams)


def _bierl(spec, learner, hparams, where) -> Method:
    from jaxmeta.control.bierl import BiERL
    from jaxmeta.control.lstm import BiERLController

    options = dict(spec["bierl"])
    controller_config = dict(options.pop("controller", {}))
    warm = options.pop("warm_start", None)
    if "num_features" not in controller_config:
        size = getattr(learner, "population_size", None)
        if size is None:
            raise ValueError(
                f"{where}.bierl.controller needs num_features for learner "
                f"{spec['learner']!r} (the length of its signal row)"
            )
        controller_config["num_features"] = size
    controller = BiERLController(
        **checked_fields(
            BiERLController, controller_config, f"{where}.bierl.controller"
        )
    )
    bierl = BiERL(
        learner,
        controller,
        **checked_fields(
            BiERL, options, f"{where}.bierl", skip=("learner", "controller")
        ),
    )
    base = bierl.default_hparams().replace(inner=hparams)
    if warm is not None:
        check_names(f"{where}.bierl.warm_start field", warm, ("env", "updates"))
        warm = (
            coerce(f"{where}.bierl.warm_start.env", warm["env"], str),
            coerce(f"{where}.bierl.warm_start.updates", warm["updates"], int),
        )
    return Method(spec["name"], bierl, base, warm)


def _pbt(spec, learner, hparams, where) -> Method:
    from jaxmeta.control.pbt import PBT, PBTLearner
    from jaxmeta.search import SearchSpace

    options = dict(spec["pbt"])
    dims = {
        name: dim_from_table(name, d) for name, d in options.pop("dims", {}).items()
    }
    if not dims:
        raise ValueError(f"{where}.pbt needs dims (the hparams PBT explores)")
    space = SearchSpace(hparams, **dims)
    members = coerce(f"{where}.pbt.members", options.pop("members", 4), int)
    interval = coerce(f"{where}.pbt.interval", options.pop("interval", 10), int)
    pbt = PBT(
        space,
        members,
        **checked_fields(
            PBT, options, f"{where}.pbt", skip=("space", "population_size")
        ),
    )
    return Method(spec["name"], PBTLearner(learner, pbt, interval), hparams)
