"""What `jaxmeta` can run: experiment kinds, named experiments, and starting
or resuming a run directory.

A *kind* (e.g. "tune") is a config class with `from_dict` / `to_dict` plus an
experiment class built from it; config.json in a run directory records the
kind and the config, so `jaxmeta resume RUN_DIR` rebuilds the same experiment.
A *named experiment* (e.g. "quickstart") is a kind plus the config it runs;
`jaxmeta run NAME --set field=value` changes its fields. The files under
`experiments/` run the same entries.
"""

import dataclasses
import importlib
import json
import os

import jax

from jaxmeta.run import driver, results
from jaxmeta.run.config import apply_overrides, dataclass_from_dict
from jaxmeta.run.named_experiments import EXPERIMENTS, quickstart  # noqa: F401
from jaxmeta.validation import unknown_name

CONFIG_FILE = "config.json"

# kind -> ("module:ConfigClass", "module:experiment factory"), modules under
# jaxmeta.run, imported when the kind is first built (`jaxmeta list` imports
# neither control/ nor adapt/). Multi-fidelity searchers (successive halving,
# Hyperband) run their own experiment on the tune config: see multi_fidelity.
_KIND_SPECS = {
    "tune": ("tune_config:TuneConfig", "multi_fidelity:tune_experiment"),
    "pbt": ("pbt:PBTConfig", "pbt:PBTExperiment"),
    "compare": ("compare:CompareConfig", "compare:CompareExperiment"),
    "trust-region": (
        "trust_region:TrustRegionConfig",
        "trust_region:TrustRegionExperiment",
    ),
    "episodes": ("episodes_config:EpisodesConfig", "episodes:EpisodesExperiment"),
    "rl2": ("rl2_config:RL2Config", "rl2:RL2Experiment"),
    "transfer": ("transfer_config:TransferConfig", "transfer:TransferExperiment"),
    "maxq": ("maxq:MAXQConfig", "maxq:MAXQExperiment"),
    "diayn": ("diayn_config:DIAYNConfig", "diayn:DIAYNExperiment"),
    "hdqn": ("hdqn:HDQNConfig", "hdqn:HDQNExperiment"),
    "maml": ("maml_config:MAMLConfig", "maml:MAMLExperiment"),
    "feudal": ("feudal:FeudalConfig", "feudal:FeudalExperiment"),
    "hiro": ("hiro:HIROConfig", "hiro:HIROExperiment"),
    "options": ("options_config:OptionsConfig", "options:OptionsExperiment"),
    "option-critic": (
        "option_critic_config:OptionCriticConfig",
        "option_critic:OptionCriticExperiment",
    ),
}


def _load(spec: str):
    module, name = spec.split(":")
    return getattr(importlib.import_module(f"jaxmeta.run.{module}"), name)


class _LazyConfig:
    """A kind's config class, imported when first used."""

    def __init__(self, spec: str):
        self._spec = spec

    def from_dict(self, values):
        return _load(self._spec).from_dict(values)


def _lazy_factory(spec: str):
    return lambda config: _load(spec)(config)


# kind -> (config class, experiment factory)
KINDS = {
    kind: (_LazyConfig(config), _lazy_factory(experiment))
    for kind, (config, experiment) in _KIND_SPECS.items()
}


def get_experiment(name: str):
    """`(kind, config dict)` of the named experiment; ValueError suggests the
    closest name."""
    if name not in EXPERIMENTS:
        raise unknown_name("experiment", name, EXPERIMENTS)
    kind, factory, _ = EXPERIMENTS[name]
    return kind, factory()


def split_run_options(values: dict) -> tuple[dict, driver.RunOptions]:
    """A config dict's `run` table (driver options) apart from the rest."""
    values = dict(values)
    run_table = values.pop("run", {}) or {}
    options = dataclass_from_dict(driver.RunOptions, run_table, "run")
    return values, options


def build(kind: str, values: dict, overrides=()):
    """`(experiment, options)` for `kind` from a config dict with `--set`
    overrides applied; every check runs here, before anything compiles."""
    if kind not in KINDS:
        raise unknown_name("experiment kind", kind, KINDS)
    values = apply_overrides(values, overrides)
    values, options = split_run_options(values)
    config_class, factory = KINDS[kind]
    return factory(config_class.from_dict(values)), options


def start_run(experiment, out_root: str, options: driver.RunOptions):
    """Run `experiment` in a fresh `out_root/NAME-N`. Returns `(run_dir, rows)`
    for tuning runs (`host["members"]`), else `(run_dir, host)`."""
    name = experiment.config.name
    run_dir = results.make_run_dir(out_root, name)
    if jax.process_index() == 0:
        results.write_json(
            os.path.join(run_dir, CONFIG_FILE),
            {
                "kind": experiment.kind,
                "config": experiment.config_dict(),
                "run": dataclasses.asdict(options),
                "devices": jax.device_count(),
                "processes": jax.process_count(),
            },
        )
    return _drive(experiment, run_dir, options, resume=False)


def _drive(experiment, run_dir, options, resume):
    _, host, info = driver.run(experiment, run_dir, options, resume=resume)
    if jax.process_index() == 0:
        timing = {k: v for k, v in info.items() if k != "chunk_seconds"}
        results.write_json(os.path.join(run_dir, "timings.json"), timing)
    rows_of = getattr(experiment, "result_rows", None)
    rows = rows_of(host) if rows_of else host.get("members", host)
    return run_dir, rows


def read_run_config(run_dir: str) -> dict:
    """config.json of `run_dir`; ValueError for a missing or corrupt run dir."""
    if not isinstance(run_dir, str) or not run_dir:
        raise TypeError(f"run directory must be a path, got {run_dir!r}")
    if not os.path.isdir(run_dir):
        raise ValueError(f"run directory {run_dir!r} does not exist")
    path = os.path.join(run_dir, CONFIG_FILE)
    if not os.path.isfile(path):
        raise ValueError(
            f"{run_dir!r} is not a jaxmeta run directory (no {CONFIG_FILE})"
        )
    try:
        with open(path) as f:
            saved = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is corrupt (not valid JSON: {err})") from None
    if not isinstance(saved, dict) or "kind" not in saved or "config" not in saved:
        raise ValueError(f"{path} is corrupt (needs 'kind' and 'config')")
    return saved


RESUMABLE = ("run",)  # what `resume --set` may change: how it runs, not what


def resume_run(run_dir: str, overrides=(), quiet: bool | None = None):
    """Continue the run in `run_dir` from its newest readable checkpoint.
    Overrides may change only the `run.*` options (checkpoints, logging).
    Returns what `start_run` returns."""
    return prepare_resume(run_dir, overrides, quiet)[1]()


def prepare_resume(run_dir: str, overrides=(), quiet: bool | None = None):
    """Check `run_dir` and the overrides, rebuild its experiment (before
    anything compiles); returns `(experiment, run)`: calling `run()`
    continues the run."""
    saved = read_run_config(run_dir)
    for item in overrides or ():
        key = str(item).split("=", 1)[0].strip()
        if key.split(".")[0] not in RESUMABLE:
            raise ValueError(
                f"--set {key}: a resumed run keeps its config; allowed on resume: "
                f"run.checkpoint_seconds, run.checkpoint_every, "
                f"run.keep_checkpoints, run.tensorboard, run.quiet"
            )
    values = {**saved["config"], "run": saved.get("run", {})}
    experiment, options = build(saved["kind"], values, overrides)
    if quiet is not None:
        options = dataclasses.replace(options, quiet=quiet)
    return experiment, lambda: _drive(experiment, run_dir, options, resume=True)
