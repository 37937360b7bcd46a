"""Tune a learner's hyperparameters: rounds of ask -> train vmapped -> score -> tell.

The whole population of one round trains in one compiled program (sharded over
every device); each member is then evaluated on fresh episodes, its mean return
scored by the HyperScore, and the searcher told. Results go to a run directory
(see `jaxmeta.run.results`).
"""

import dataclasses
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmeta.envs import make
from jaxmeta.learners.common.evaluate import evaluate
from jaxmeta.learners.registry import make_learner
from jaxmeta.run import results
from jaxmeta.run.loop import train_population
from jaxmeta.run.progress import ProgressBar
from jaxmeta.score import hyper_score_with_mask
from jaxmeta.search import SearchSpace
from jaxmeta.search import make as make_searcher


@dataclasses.dataclass(frozen=True)
class TuneConfig:
    """What to tune and how. `dims` maps hparam names to search-space dims."""

    name: str
    env: str
    learner: str
    dims: dict
    learner_config: dict = dataclasses.field(default_factory=dict)
    searcher: str = "evosax"
    searcher_config: dict = dataclasses.field(default_factory=dict)
    population_size: int = 32
    rounds: int = 2
    num_updates: int = 50
    chunk_size: int = 10
    eval_episodes: int = 32
    eval_max_steps: int = 500
    return_bounds: tuple[float, float] | None = None  # None: population min-max
    seed: int = 0

    def __post_init__(self):
        for name in ("population_size", "rounds", "num_updates", "eval_episodes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")


_evaluate_population = jax.jit(
    jax.vmap(evaluate, in_axes=(None, 0, 0, None, None, None)),
    static_argnums=(0, 4, 5),
)


def _member_rows(round_index, hparams, returns, scores, failed, curves):
    names = [f.name for f in dataclasses.fields(hparams)]
    rows = []
    for m in range(returns.shape[0]):
        row = {"round": round_index, "member": m}
        row.update({n: float(np.asarray(getattr(hparams, n))[m]) for n in names})
        finite = curves[m][np.isfinite(curves[m])]
        row["final_train_return"] = float(finite[-1]) if finite.size else float("nan")
        row["eval_return"] = float(returns[m])
        row["hyperscore"] = float(scores[m])
        row["failed"] = bool(failed[m])
        rows.append(row)
    return rows


def run_tune(config: TuneConfig, out_root: str = "runs", quiet: bool = False):
    """Run `config`; returns `(run_dir, rows)` with one row per evaluated member.

    All validation (env name, learner config, search-space names and bounds,
    population size) happens here, before anything compiles.
    """
    env, env_params = make(config.env)
    learner = make_learner(config.learner, env, **config.learner_config)
    space = SearchSpace(learner.default_hparams(), **config.dims)
    searcher = make_searcher(
        config.searcher, space, config.population_size, **config.searcher_config
    )
    run_dir = results.make_run_dir(out_root, config.name)
    results.write_json(
        f"{run_dir}/config.json",
        {**_config_dict(config), "space": repr(space), "devices": len(jax.devices())},
    )
    key = jax.random.key(config.seed)
    key_search, key_rounds = jax.random.split(key)
    meta_params = searcher.default_meta_params()
    state = searcher.init(key_search, meta_params)
    rounds, rows, best_members = [], [], []
    for r in range(config.rounds):
        key_ask, key_train, key_eval, key_tell = jax.random.split(
            jax.random.fold_in(key_rounds, r), 4
        )
        hparams, state = searcher.ask(key_ask, state, meta_params)
        bar = ProgressBar(config.num_updates, f"round {r + 1}/{config.rounds}", quiet)
        start = time.perf_counter()
        states, metrics, info = train_population(
            learner,
            key_train,
            hparams,
            env_params,
            config.num_updates,
            config.chunk_size,
            bar,
        )
        bar.close()
        eval_keys = jax.random.split(key_eval, config.population_size)
        returns, _ = _evaluate_population(
            learner,
            eval_keys,
            states,
            env_params,
            config.eval_episodes,
            config.eval_max_steps,
        )
        mean_returns = jnp.mean(returns, axis=1)
        low, high = config.return_bounds or (None, None)
        scores, failed = hyper_score_with_mask(mean_returns, low, high)
        state, _ = searcher.tell(key_tell, hparams, scores, state, meta_params)
        scores, failed = np.asarray(scores), np.asarray(failed)
        rounds.append(metrics)
        best_members.append(int(np.argmax(scores)))
        round_rows = _member_rows(
            r,
            jax.device_get(hparams),
            np.asarray(mean_returns),
            scores,
            failed,
            metrics["episode_return"],
        )
        for row in round_rows:
            row["round_seconds"] = time.perf_counter() - start
            row["compile_seconds"] = info["compile_s"]
        rows.extend(round_rows)
    _write_outputs(run_dir, rounds, rows, best_members)
    return run_dir, rows


def _config_dict(config: TuneConfig) -> dict[str, Any]:
    out = dataclasses.asdict(config)
    out["dims"] = {k: repr(v) for k, v in config.dims.items()}
    return out


def _write_outputs(run_dir, rounds, rows, best_members):
    results.write_metrics_csv(f"{run_dir}/metrics.csv", rounds)
    results.write_members_csv(f"{run_dir}/members.csv", rows)
    results.plot_learning_curves(f"{run_dir}/learning_curve.png", rounds, best_members)
    best = max(rows, key=lambda row: (row["hyperscore"], row["eval_return"]))
    results.write_json(f"{run_dir}/best_config.json", best)


def best_rows(rows: list[dict], k: int = 5) -> list[dict]:
    """The `k` best members over all rounds, by HyperScore then eval return."""
    ranked = sorted(rows, key=lambda r: (r["hyperscore"], r["eval_return"]))
    return ranked[::-1][:k]


def format_table(rows: list[dict], hparam_names: list[str]) -> str:
    """A markdown table of members: round, member, hparams, score, returns."""
    head = ["round", "member", *hparam_names, "HyperScore", "eval return", "train ret"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [str(row["round"]), str(row["member"])]
        cells += [f"{row[n]:.4g}" for n in hparam_names]
        cells += [
            f"{row['hyperscore']:.2f}",
            f"{row['eval_return']:.1f}",
            f"{row['final_train_return']:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
