"""The host side of the HIRO U-maze experiment (`run.hiro`): curves.csv
(per method, seed and chunk: env steps so far, the greedy success rate and
mean final distance on the evaluation goal, the chunk's mean training
return, for HIRO the chunk's mean fractions of relabelled goals that stayed
the original / became the achieved change), results.csv (per method and
seed: the last evaluation's success, the mean over the last fifth of the
chunks, the first env steps at which half the evaluation episodes succeed,
the fraction of goals the correction kept), table.md (with the HIRO paper's
AntMaze figures beside ours) and hiro_umaze.png (success over training,
mean and 95 % CI over seeds)."""

import numpy as np

from jaxmeta.learners.base import FAILURE_NONE
from jaxmeta.run.report_common import chunk_return, ci_band, write_results
from jaxmeta.score.stats import format_ci

# Nachum et al. 2018, Table 1 (AntMaze, success at the end of training):
# HIRO 0.99 +- 0.01; every FuN variant and the other baselines 0.0. The ant
# is a 30-dim quadruped in a maze of 8-unit cells; our body is a point.
PAPER = {"hiro": "0.99 ± 0.01 (AntMaze)", "hiro-no-correction": "lower (Fig. 4)",
         "flat-td3": "about 0 (their flat baseline)"}  # fmt: skip


# curves.csv column -> HIRO's metric: the fractions of sampled manager goals
# whose best candidate was the original goal / the achieved change.
RELABEL_COLUMNS = {"relabel_original": "train/relabel_original",
                   "relabel_achieved": "train/relabel_achieved"}  # fmt: skip


def empty_host(experiment) -> dict:
    """Per method: the chunks' success rates, distances, returns and
    fractions of goals kept, per seed."""
    return {
        "methods": {
            m: {"success": [], "distance": [], "returns": [], "kept": [], "failed": []}
            for m in experiment.methods
        },
        "seconds": {m: 0.0 for m in experiment.methods},
    }


def report(experiment, chunk, outputs, host, sink):
    """A chunk's curves rows; the table when the last chunk lands."""
    rows = []
    steps = (chunk + 1) * experiment.steps_per_chunk
    for name, out in outputs.items():
        record = host["methods"][name]
        success = np.asarray(out["success"], float)
        distance = np.asarray(out["distance"], float)
        returns = chunk_return(out["episode_return"], out["episodes"])
        relabel = {
            column: np.asarray(out[metric], float).mean(-1)
            if metric in out
            else np.full(success.shape, np.nan)
            for column, metric in RELABEL_COLUMNS.items()
        }
        record["success"].append(success.tolist())
        record["distance"].append(distance.tolist())
        record["returns"].append(returns.tolist())
        record["kept"].append(relabel["relabel_original"].tolist())
        record["failed"] = (np.asarray(out["failure"]) != FAILURE_NONE).tolist()
        host["seconds"][name] += float(out["seconds"])
        for seed in range(success.shape[0]):
            rows.append({"method": name, "seed": seed, "chunk": chunk,
                         "env_steps": steps, "success_rate": success[seed],
                         "final_distance": distance[seed],
                         "train_return": returns[seed],
                         **{c: v[seed] for c, v in relabel.items()}})  # fmt: skip
    sink.append("curves.csv", rows)
    postfix = {"done": f"{chunk + 1}/{experiment.num_chunks}"}
    if chunk + 1 == experiment.num_chunks:
        refresh(experiment, host, sink)
        postfix["messages"] = ["\n" + table(experiment, result_rows(experiment, host))]
    return host, postfix


def result_rows(experiment, host) -> list[dict]:
    """Per (method, seed): last and late (last fifth) success rate, env
    steps to a success rate of 0.5 (None if never), the mean fraction of
    sampled manager goals relabelling kept (None for flat TD3), failure,
    wall time."""
    rows = []
    for name in experiment.methods:
        record = host["methods"][name]
        if not record["success"]:
            continue
        curve = np.asarray(record["success"], float)  # [chunks, seeds]
        late = max(1, curve.shape[0] // 5)
        for seed in range(curve.shape[1]):
            values = curve[:, seed]
            hit = np.flatnonzero(values >= 0.5)
            rows.append({
                "method": name, "seed": seed,
                "final_success": float(values[-1]),
                "late_success": float(values[-late:].mean()),
                "final_distance": float(record["distance"][-1][seed]),
                "env_steps_to_half": (int(hit[0]) + 1) * experiment.steps_per_chunk
                if len(hit) else None,
                "goals_kept_original": float(
                    np.nanmean(np.asarray(record["kept"], float)[:, seed])
                ) if np.isfinite(record["kept"][-1][seed]) else None,
                "failed": record["failed"][seed],
                "method_wall_seconds": host["seconds"][name],
            })  # fmt: skip
    return rows


def table(experiment, rows) -> str:
    """Markdown: per method, the last evaluation's success rate and the
    late one (mean ± 95 % CI over seeds), seeds ever at half success and
    when (median), the fraction of goals relabelling kept, wall time; the
    paper's AntMaze figure beside."""
    c = experiment.config
    total = c.updates * experiment.learners["hiro"].steps_per_update
    lines = [
        f"{c.env} {c.env_config or ''}, evaluated on {c.eval_env_config}, "
        f"{c.seeds} seeds, {total:,} env steps per agent, {c.eval_episodes} "
        "greedy episodes per evaluation",
        "",
        "| method | final success | success, last fifth | final distance | "
        "seeds at success >= 0.5 | env steps to it, median | goals kept | "
        "wall s | paper (AntMaze, ant body) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in experiment.methods:
        mine = [r for r in rows if r["method"] == name]
        if not mine:
            continue
        reached = [r["env_steps_to_half"] for r in mine
                   if r["env_steps_to_half"] is not None]  # fmt: skip
        median = f"{np.median(reached):,.0f}" if reached else "not reached"
        failed = sum(bool(r["failed"]) for r in mine)
        kept = [r["goals_kept_original"] for r in mine
                if r["goals_kept_original"] is not None]  # fmt: skip
        cells = [name + (f" ({failed} failed)" if failed else ""),
                 format_ci([r["final_success"] for r in mine], digits=2),
                 format_ci([r["late_success"] for r in mine], digits=2),
                 format_ci([r["final_distance"] for r in mine], digits=2),
                 f"{len(reached)}/{len(mine)}", median,
                 format_ci(kept, digits=2) if kept else "-",
                 f"{mine[0]['method_wall_seconds']:.0f}", PAPER[name]]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def refresh(experiment, host, sink) -> None:
    """results.csv, table.md, hiro_umaze.png."""
    rows = result_rows(experiment, host)
    write_results(
        sink, rows, table(experiment, rows) if rows else "", "hiro_umaze.png",
        lambda fig: _plot(fig, experiment, host), (7, 4),
    )  # fmt: skip


def _plot(fig, experiment, host):
    ax = fig.add_subplot(1, 1, 1)
    for j, name in enumerate(experiment.methods):
        record = host["methods"][name]
        if not record["success"]:
            continue
        values = np.asarray(record["success"], float)
        steps = experiment.steps_per_chunk * np.arange(1, len(values) + 1)
        ci_band(ax, steps, values, f"C{j}", name, clip=(0.0, 1.0))
    ax.set_xlabel("env steps per agent")
    ax.set_ylabel("greedy success on the far goal (95% CI)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{experiment.config.env}: HIRO vs flat TD3", fontsize=9)
    ax.legend(fontsize=7)
