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
import json
import os

import jax

from jaxmeta.run import driver, results
from jaxmeta.run.config import apply_overrides, dataclass_from_dict
from jaxmeta.run.tune_config import TuneConfig
from jaxmeta.validation import unknown_name

CONFIG_FILE = "config.json"


def _tune_experiment(config):
    # Multi-fidelity searchers (successive halving, Hyperband) run their own
    # experiment on the same config; see run.multi_fidelity.
    from jaxmeta.run.multi_fidelity import tune_experiment

    return tune_experiment(config)


def _pbt_experiment(config):
    from jaxmeta.run.pbt import PBTExperiment

    return PBTExperiment(config)


def _pbt_config():
    from jaxmeta.run.pbt import PBTConfig

    return PBTConfig


class _LazyConfig:
    """A config class imported when first used (PBT imports control/)."""

    def __init__(self, load):
        self._load = load

    def from_dict(self, values):
        return self._load().from_dict(values)


def _compare_experiment(config):
    from jaxmeta.run.compare import CompareExperiment

    return CompareExperiment(config)


def _compare_config():
    from jaxmeta.run.compare import CompareConfig

    return CompareConfig


def _trust_region_experiment(config):
    from jaxmeta.run.trust_region import TrustRegionExperiment

    return TrustRegionExperiment(config)


def _trust_region_config():
    from jaxmeta.run.trust_region import TrustRegionConfig

    return TrustRegionConfig


def _episodes_experiment(config):
    from jaxmeta.run.episodes import EpisodesExperiment

    return EpisodesExperiment(config)


def _episodes_config():
    from jaxmeta.run.episodes_config import EpisodesConfig

    return EpisodesConfig


def _rl2_experiment(config):
    from jaxmeta.run.rl2 import RL2Experiment

    return RL2Experiment(config)


def _rl2_config():
    from jaxmeta.run.rl2_config import RL2Config

    return RL2Config


def _options_experiment(config):
    from jaxmeta.run.options import OptionsExperiment

    return OptionsExperiment(config)


def _options_config():
    from jaxmeta.run.options_config import OptionsConfig

    return OptionsConfig


def _transfer_experiment(config):
    from jaxmeta.run.transfer import TransferExperiment

    return TransferExperiment(config)


def _transfer_config():
    from jaxmeta.run.transfer_config import TransferConfig

    return TransferConfig


def _maxq_experiment(config):
    from jaxmeta.run.maxq import MAXQExperiment

    return MAXQExperiment(config)


def _maxq_config():
    from jaxmeta.run.maxq import MAXQConfig

    return MAXQConfig


def _option_critic_experiment(config):
    from jaxmeta.run.option_critic import OptionCriticExperiment

    return OptionCriticExperiment(config)


def _option_critic_config():
    from jaxmeta.run.option_critic_config import OptionCriticConfig

    return OptionCriticConfig


def _hdqn_experiment(config):
    from jaxmeta.run.hdqn import HDQNExperiment

    return HDQNExperiment(config)


def _hdqn_config():
    from jaxmeta.run.hdqn import HDQNConfig

    return HDQNConfig


def _maml_experiment(config):
    from jaxmeta.run.maml import MAMLExperiment

    return MAMLExperiment(config)


def _maml_config():
    from jaxmeta.run.maml_config import MAMLConfig

    return MAMLConfig


def _diayn_experiment(config):
    from jaxmeta.run.diayn import DIAYNExperiment

    return DIAYNExperiment(config)


def _diayn_config():
    from jaxmeta.run.diayn_config import DIAYNConfig

    return DIAYNConfig


def _feudal_experiment(config):
    from jaxmeta.run.feudal import FeudalExperiment

    return FeudalExperiment(config)


def _feudal_config():
    from jaxmeta.run.feudal import FeudalConfig

    return FeudalConfig


def _hiro_experiment(config):
    from jaxmeta.run.hiro import HIROExperiment

    return HIROExperiment(config)


def _hiro_config():
    from jaxmeta.run.hiro import HIROConfig

    return HIROConfig


# kind -> (config class, experiment factory)
KINDS = {
    "tune": (TuneConfig, _tune_experiment),
    "pbt": (_LazyConfig(_pbt_config), _pbt_experiment),
    "compare": (_LazyConfig(_compare_config), _compare_experiment),
    "trust-region": (_LazyConfig(_trust_region_config), _trust_region_experiment),
    "episodes": (_LazyConfig(_episodes_config), _episodes_experiment),
    "rl2": (_LazyConfig(_rl2_config), _rl2_experiment),
    "transfer": (_LazyConfig(_transfer_config), _transfer_experiment),
    "maxq": (_LazyConfig(_maxq_config), _maxq_experiment),
    "diayn": (_LazyConfig(_diayn_config), _diayn_experiment),
    "hdqn": (_LazyConfig(_hdqn_config), _hdqn_experiment),
    "maml": (_LazyConfig(_maml_config), _maml_experiment),
    "feudal": (_LazyConfig(_feudal_config), _feudal_experiment),
    "hiro": (_LazyConfig(_hiro_config), _hiro_experiment),
    "options": (_LazyConfig(_options_config), _options_experiment),
    "option-critic": (
        _LazyConfig(_option_critic_config),
        _option_critic_experiment,
    ),
}


def quickstart() -> dict:
    """Tune PPO on CartPole-v1: 32 configs, two rounds of CMA-ES search
    (the same config as experiments/quickstart.toml)."""
    return {
        "name": "quickstart",
        "env": "CartPole-v1",
        "learner": "ppo",
        "learner_config": dict(
            num_envs=16, num_steps=64, num_epochs=4, num_minibatches=4
        ),
        "dims": {
            "learning_rate": {"kind": "log_uniform", "low": 3e-4, "high": 3e-2},
            "gamma": {"kind": "logit", "low": 0.95, "high": 0.999},
            "gae_lambda": {"kind": "logit", "low": 0.8, "high": 0.99},
            "clip_eps": {"kind": "uniform", "low": 0.1, "high": 0.3},
            "ent_coef": {"kind": "log_uniform", "low": 1e-4, "high": 3e-2},
        },
        "searcher": "evosax",
        "searcher_config": {"strategy": "CMA_ES"},
        "population_size": 32,
        "rounds": 2,
        "num_updates": 100,
        "chunk_size": 10,
        "eval_episodes": 32,
        "eval_max_steps": 500,
        "return_bounds": [0.0, 500.0],
        "seed": 0,
    }


def pbt_cartpole() -> dict:
    """PBT of 16 PPO members on CartPole-v1 (experiments/pbt_cartpole.toml)."""
    return {
        "name": "pbt-cartpole",
        "env": "CartPole-v1",
        "learner": "ppo",
        "learner_config": dict(
            num_envs=16, num_steps=64, num_epochs=4, num_minibatches=4
        ),
        "dims": {
            "learning_rate": {"kind": "log_uniform", "low": 1e-4, "high": 3e-2},
            "clip_eps": {"kind": "uniform", "low": 0.1, "high": 0.3},
            "ent_coef": {"kind": "log_uniform", "low": 1e-4, "high": 3e-2},
        },
        "population_size": 16,
        "num_updates": 100,
        "chunk_size": 10,
        "eval_episodes": 32,
        "eval_max_steps": 500,
        "quantile": 0.25,
        "resample_probability": 0.25,
        "perturb_factors": [0.8, 1.2],
        "seed": 0,
    }


def _experiments_file(module: str, function: str):
    """A config factory defined in the repository's experiments/MODULE.py
    (a source checkout, as the README installs it)."""

    def factory() -> dict:
        import importlib.util
        import pathlib

        path = (
            pathlib.Path(__file__).resolve().parents[2] / "experiments" / f"{module}.py"
        )
        if not path.is_file():
            raise ValueError(
                f"experiment file {path} not found: run from a source checkout "
                f"(pip install -e .)"
            )
        spec = importlib.util.spec_from_file_location(f"experiments_{module}", path)
        loaded = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded)
        return getattr(loaded, function)()

    return factory


# name -> (kind, config factory, description)
EXPERIMENTS = {
    "bierl": (
        "compare",
        _experiments_file("bierl", "quick"),
        "BiERL vs ES, NSR-ES, ESAC, PBT, PPO, SAC, TRPO (CPU mode)",
    ),
    "bierl-full": (
        "compare",
        _experiments_file("bierl", "full"),
        "the same on brax locomotion (accelerator mode)",
    ),
    "trust-region": (
        "trust-region",
        _experiments_file("trust_region", "quick"),
        "meta-KL (FQI) vs fixed and random KL for xTRPO, seeds/002 (CPU mode)",
    ),
    "trust-region-full": (
        "trust-region",
        _experiments_file("trust_region", "full"),
        "the same at the seed's sizes (accelerator mode)",
    ),
    "trust-region-beyond": (
        "trust-region",
        _experiments_file("trust_region", "beyond"),
        "CartPole with PBT, BiERL and PPO's FQI meta-clip beside meta-KL (CPU)",
    ),
    "sam-hrl-hs": (
        "episodes",
        _experiments_file("sam_hrl_hs", "quick"),
        "episodes to target after tuning by SAM-HRL-HS, GP-BO, ..., seeds/000 (CPU)",
    ),
    "sam-hrl-hs-full": (
        "episodes",
        _experiments_file("sam_hrl_hs", "full"),
        "the same at the full budget, 5 seeds (accelerator mode)",
    ),
    "sam-hrl-hs-transfer": (
        "transfer",
        _experiments_file("sam_hrl_hs_transfer", "quick"),
        "SAM-HRL-HS meta-trained on CartPole/MountainCar tasks, searching "
        "Acrobot and LunarLander (CPU)",
    ),
    "sam-hrl-hs-transfer-full": (
        "transfer",
        _experiments_file("sam_hrl_hs_transfer", "full"),
        "the same at the full budget, 5 seeds (accelerator mode)",
    ),
    "rl2": (
        "rl2",
        _experiments_file("rl2", "quick"),
        "RL^2 vs bandit and random-MDP baselines, Duan et al. 2016 (CPU mode)",
    ),
    "rl2-full": (
        "rl2",
        _experiments_file("rl2", "full"),
        "the same on all of the paper's settings and sizes (accelerator mode)",
    ),
    "options": (
        "options",
        _experiments_file("options", "quick"),
        "flat vs SMDP vs intra-option Q-learning in Four Rooms, seeds/001 (CPU)",
    ),
    "options-full": (
        "options",
        _experiments_file("options", "full"),
        "the same with 100 trials and 4 learning rates (accelerator mode)",
    ),
    "option-critic": (
        "option-critic",
        _experiments_file("option_critic", "quick"),
        "option-critic vs AC-PG vs SARSA(0), Four Rooms transfer, 30 trials "
        "(Bacon et al. 2017)",
    ),
    "option-critic-full": (
        "option-critic",
        _experiments_file("option_critic", "full"),
        "the same with the paper's 100 runs",
    ),
    "maxq": (
        "maxq",
        _experiments_file("maxq", "quick"),
        "MAXQ-Q vs flat Q-learning on Taxi, 30 trials (Dietterich 2000)",
    ),
    "maxq-full": (
        "maxq",
        _experiments_file("maxq", "full"),
        "the same with 100 trials and 5x the env steps",
    ),
    "diayn": (
        "diayn",
        _experiments_file("diayn", "quick"),
        "DIAYN skills on Point2D and LunarLander, 10 and 20 skills, and a "
        "skill as SAC's start, 5 seeds (Eysenbach et al. 2018; CPU mode)",
    ),
    "diayn-full": (
        "diayn",
        _experiments_file("diayn", "full"),
        "the same with 10 seeds, 10x the env steps (accelerator mode)",
    ),
    "hdqn": (
        "hdqn",
        _experiments_file("hdqn", "quick"),
        "h-DQN vs flat Q-learning and flat DQN on the stochastic decision "
        "process, 30 trials (Kulkarni et al. 2016)",
    ),
    "hdqn-full": (
        "hdqn",
        _experiments_file("hdqn", "full"),
        "the same at the paper's length (200,000 env steps a trial)",
    ),
    "maml": (
        "maml",
        _experiments_file("maml", "quick"),
        "MAML, FOMAML, Directed-MAML, pretrained, random on Navigation2D and "
        "CartPole tasks (CPU mode)",
    ),
    "maml-full": (
        "maml",
        _experiments_file("maml", "full"),
        "the same at the papers' sizes (accelerator mode)",
    ),
    "feudal": (
        "feudal",
        _experiments_file("feudal", "quick"),
        "FeUdal networks vs a flat LSTM actor-critic and FuN without intrinsic "
        "reward on KeyDoor, 5 seeds (Vezhnevets et al. 2017, CPU mode)",
    ),
    "feudal-full": (
        "feudal",
        _experiments_file("feudal", "full"),
        "the same on a larger KeyDoor at 10x the env steps",
    ),
    "hiro": (
        "hiro",
        _experiments_file("hiro", "quick"),
        "HIRO vs HIRO without off-policy correction and flat TD3 on the "
        "point-mass U-maze, 5 seeds (Nachum et al. 2018, CPU mode)",
    ),
    "hiro-full": (
        "hiro",
        _experiments_file("hiro", "full"),
        "the same with 10 seeds, a slower point and 1M env steps",
    ),
    "hiro-fixed-goal": (
        "hiro",
        _experiments_file("hiro", "fixed_goal"),
        "hiro's quick mode with the far goal in training too (no curriculum)",
    ),
    "pbt-cartpole": ("pbt", pbt_cartpole, "PBT of 16 PPO members on CartPole-v1"),
    "quickstart": (
        "tune",
        quickstart,
        "tune PPO on CartPole-v1 (32 configs x 2 rounds)",
    ),
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
