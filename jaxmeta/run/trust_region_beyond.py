"""Beyond seeds/002 in the trust-region experiment (an env table's
`beyond`): other controllers of the same meta-action, and the same FQI
controller on another learner, evaluated on the runs (keys and tasks) the
seed's methods get.

- `ppo`: `EpisodicPPO` runs with clip_eps ~ U[clip_range] every update make
  a second meta-dataset; an FQI controller with the (H, psi) selected for
  xTRPO is fitted on it and sets PPO's clip_eps per update ("ppo-meta-clip"),
  against PPO at every fixed clip of `fixed_clip` ("ppo-fixed-<c>").
- `pbt`: PBT over xTRPO's lambda (`PBTLearner`, `members` copies, exploit /
  explore every `interval` updates, lambda log-uniform in kl_range at start);
  its curve is the J of the member PBT would return (`act`'s choice) and
  its env steps are `members` times xTRPO's.
- `bierl`: BiERL's LSTM controller reading J and the return spread, setting
  lambda in kl_range (log scale), meta-trained by ES during the run
  (`meta_population` candidates, one meta step every `meta_every` updates,
  truncated one-step fitness, no warm start); its env steps include the
  candidates' fitness updates.

`evaluate` returns {arch: {method: {"J": [1, R, T + 1], "kl": [1, R, T],
"env_steps_ratio": env steps over xTRPO's}}}.
"""

import jax
import jax.numpy as jnp
import numpy as np

from jaxmeta.control import Constant, Controlled, UniformRandom, meta_dataset
from jaxmeta.control.bierl import BiERL
from jaxmeta.control.fqi import FQIController, check_grid
from jaxmeta.control.lstm import BiERLController
from jaxmeta.control.metafeatures import MetaFeatures
from jaxmeta.control.pbt import PBT, PBTLearner
from jaxmeta.learners.ppo_episodic import EpisodicPPO
from jaxmeta.search.dimensions import LogUniform
from jaxmeta.search.space import SearchSpace
from jaxmeta.validation import check_names, coerce

DEFAULTS = {
    "archs": None,  # None: every architecture of the env
    "ppo": None,
    "pbt": None,
    "bierl": None,
}
PPO_DEFAULTS = {
    "clip_range": [0.02, 0.5],
    "fixed_clip": [0.05, 0.1, 0.2, 0.3, 0.5],
    "meta_grid": [0.05, 0.1, 0.2, 0.3, 0.5],
    "learning_rate": 3e-3,
    "num_epochs": 4,
    "num_minibatches": 4,
}
PBT_DEFAULTS = {"members": 4, "interval": 5}
BIERL_DEFAULTS = {"meta_population": 8, "meta_every": 5, "history": 5, "hidden": 16}


def _table(value, defaults: dict, where: str) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"{where} must be a table, got {value!r}")
    check_names(f"{where} field", value, tuple(defaults))
    out = {**defaults, **value}
    for name, default in defaults.items():
        coerce(f"{where}.{name}", out[name], type(default))
    return out


def check_beyond(beyond, spec: dict, where: str) -> dict:
    """The `beyond` table of an env spec, defaults filled in ({} = off)."""
    if not isinstance(beyond, dict):
        raise TypeError(f"{where} must be a table, got {beyond!r}")
    check_names(f"{where} field", beyond, tuple(DEFAULTS))
    out = {**DEFAULTS, **beyond}
    out["ppo"] = _table(out["ppo"], PPO_DEFAULTS, f"{where}.ppo")
    out["pbt"] = _table(out["pbt"], PBT_DEFAULTS, f"{where}.pbt")
    out["bierl"] = _table(out["bierl"], BIERL_DEFAULTS, f"{where}.bierl")
    if out["ppo"]:
        low, high = (float(v) for v in out["ppo"]["clip_range"])
        if not 0 < low < high:
            raise ValueError(
                f"{where}.ppo.clip_range must be [low, high] with 0 < low < high, "
                f"got {out['ppo']['clip_range']!r}"
            )
        check_grid(out["ppo"]["fixed_clip"])
        check_grid(out["ppo"]["meta_grid"])
    if out["pbt"] and out["pbt"]["members"] < 2:
        raise ValueError(f"{where}.pbt.members must be >= 2")
    if out["bierl"] and spec["test_updates"] % out["bierl"]["meta_every"]:
        raise ValueError(
            f"{where}.bierl.meta_every must divide test_updates "
            f"({spec['test_updates']}), got {out['bierl']['meta_every']}"
        )
    archs = [list(a) for a in (*spec["train_archs"], *spec["test_archs"])]
    if out["archs"] is not None and any(list(a) not in archs for a in out["archs"]):
        raise ValueError(f"{where}.archs must be among the env's archs {archs}")
    return out


def _runs_of(one_run, runs):
    """jit(vmap(one_run)) over the runs' keys and (batched) tasks."""
    in_axes = (0, None if runs.single_task else 0)
    return jax.device_get(jax.jit(jax.vmap(one_run, in_axes=in_axes))(
        runs.keys, runs.tasks))  # fmt: skip


def _curve(first, later, failed, ratio: float) -> dict:
    """J [1, R, T + 1] (NaN for failed runs), the hparam [1, R, T]."""
    returns = np.concatenate([np.asarray(first)[:, None], later[0]], axis=1)
    failed = np.asarray(failed) | ~np.isfinite(returns).all(1)
    returns = np.where(failed[:, None], np.nan, returns)
    return {"J": returns[None], "kl": np.asarray(later[1])[None],
            "env_steps_ratio": ratio}  # fmt: skip


def pbt_curve(setup, learner, runs, config: dict) -> dict:
    low, high = (float(v) for v in setup.spec["kl_range"])
    space = SearchSpace(learner.default_hparams(), max_kl=LogUniform(low, high))
    pbt = PBTLearner(learner, PBT(space, config["members"]), config["interval"])
    hparams, updates = learner.default_hparams(), setup.spec["test_updates"]

    def one_run(key, task):
        state = pbt.init(key, hparams, task)

        def step(state, k):
            state, metrics = pbt.update(k, state, hparams, task)
            value = state.members.returns.mean(-1)[pbt.chosen_member(state)]
            return state, (value, metrics["pbt/max_kl"])

        keys = jax.random.split(jax.random.fold_in(key, 1), updates)
        final, records = jax.lax.scan(step, state, keys)
        return state.members.returns.mean(), records, final.diverged

    first, records, failed = _runs_of(one_run, runs)
    return _curve(first, records, failed, float(config["members"]))


def bierl_curve(setup, learner, runs, config: dict) -> dict:
    low, high = (float(v) for v in setup.spec["kl_range"])
    controller = BiERLController(
        num_features=2,
        inputs=("episode_return", "train/return_std"),
        outputs=(("max_kl", low, high, "log"),),
        history=config["history"],
        hidden=config["hidden"],
    )
    every = config["meta_every"]
    bierl = BiERL(learner, controller, config["meta_population"], every)
    hparams, updates = bierl.default_hparams(), setup.spec["test_updates"]

    def one_run(key, task):
        state = bierl.init(key, hparams, task)

        def step(state, k):
            state, metrics = bierl.update(k, state, hparams, task)
            return state, (metrics["bierl/episode_return"], metrics["bierl/max_kl"])

        keys = jax.random.split(jax.random.fold_in(key, 1), updates // every)
        final, (returns, kls) = jax.lax.scan(step, state, keys)
        flat = (returns.reshape(-1), kls.reshape(-1))
        return state.inner.signals["episode_return"], flat, final.diverged

    first, records, failed = _runs_of(one_run, runs)
    ratio = (every + config["meta_population"]) / every
    return _curve(first, records, failed, ratio)


def _ppo_learner(setup, hidden, config) -> EpisodicPPO:
    spec = setup.spec
    return EpisodicPPO(
        next(iter(setup.learners.values())).env,
        num_envs=spec["num_envs"],
        num_steps=spec["num_steps"],
        hidden=tuple(hidden),
        critic_hidden=tuple(spec["critic_hidden"]),
        num_epochs=config["num_epochs"],
        num_minibatches=config["num_minibatches"],
        features=MetaFeatures(points=spec["metafeature_points"]),
    )


def _ppo_runs(learner, controller, runs, updates, config, ctrl=None, clip=None):
    controlled = Controlled(learner, controller)
    hparams = controlled.default_hparams()
    base = hparams.learner.replace(learning_rate=jnp.float32(config["learning_rate"]))
    if clip is not None:
        base = base.replace(clip_eps=jnp.float32(clip))
    hparams = hparams.replace(learner=base)
    if ctrl is not None:
        hparams = hparams.replace(ctrl=ctrl)
    return meta_dataset.meta_trajectories(
        controlled, runs.keys, hparams, runs.tasks, updates, field="clip_eps"
    )


def _meta_curve(result: meta_dataset.MetaRuns) -> dict:
    return {**meta_dataset.curves(result), "env_steps_ratio": 1.0}


def ppo_curves(key, setup, hidden_of: dict, draw, candidate, config) -> dict:
    """The PPO meta-dataset of the trained archs and its FQI fit: returns
    (EpisodicPPO per arch of `hidden_of`, the FQI controller, its params)."""
    spec = setup.spec
    key_data, key_fit = jax.random.split(key)
    clip_low, clip_high = (float(v) for v in config["clip_range"])
    random_clip = UniformRandom("clip_eps", clip_low, clip_high)
    learners = {arch: _ppo_learner(setup, h, config) for arch, h in hidden_of.items()}
    datasets = []
    for i, arch in enumerate(setup.trained):
        runs = draw(jax.random.fold_in(key_data, i), spec["dataset_runs"])
        datasets.append(
            _ppo_runs(learners[arch], random_clip, runs, spec["train_updates"], config)
        )
    tuples = meta_dataset.to_tuples(meta_dataset.concatenate(datasets))
    meta = FQIController(
        field="clip_eps",
        grid=tuple(config["meta_grid"]),
        horizon=int(candidate[0]),
        min_split=float(candidate[1]),
        num_trees=spec["num_trees"],
    )
    tuples = jax.tree_util.tree_map(jnp.asarray, tuples)
    fitted = jax.jit(meta.fit)(key_fit, tuples)
    return learners, meta, fitted


def evaluate(key, key_eval, setup, beyond: dict, candidate, draw) -> dict:
    """Every `beyond` method on every selected arch: {arch: {method: curve}}.
    draw(key, count) gives a RunSet; the evaluation runs of arch i are
    draw(fold_in(key_eval, i), eval_runs), those of the seed's methods."""
    spec, out = setup.spec, {}
    names = list(setup.learners)
    hidden_of = dict(zip(names, [*spec["train_archs"], *spec["test_archs"]],
                         strict=True))  # fmt: skip
    chosen = beyond["archs"]
    selected = [n for n, h in hidden_of.items() if chosen is None or list(h) in chosen]
    if beyond["ppo"]:
        ppo = ppo_curves(key, setup, {a: hidden_of[a] for a in {
            *selected, *setup.trained}}, draw, candidate, beyond["ppo"])  # fmt: skip
    updates = spec["test_updates"]
    for arch in selected:
        index = names.index(arch)
        runs = draw(jax.random.fold_in(key_eval, index), spec["eval_runs"])
        methods = {}
        if beyond["ppo"]:
            learners, meta, fitted = ppo
            learner, config = learners[arch], beyond["ppo"]
            methods["ppo-meta-clip"] = _meta_curve(
                _ppo_runs(learner, meta, runs, updates, config, ctrl=fitted)
            )
            for clip in config["fixed_clip"]:
                methods[f"ppo-fixed-{float(clip):g}"] = _meta_curve(
                    _ppo_runs(learner, Constant(), runs, updates, config, clip=clip)
                )
        if beyond["pbt"]:
            methods["pbt"] = pbt_curve(setup, setup.learners[arch], runs, beyond["pbt"])
        if beyond["bierl"]:
            methods["bierl"] = bierl_curve(
                setup, setup.learners[arch], runs, beyond["bierl"]
            )
        out[arch] = methods
    return out
