"""The host side of the FeUdal KeyDoor experiment (`run.feudal`): curves.csv
(per method, seed and chunk: env steps so far, the chunk's mean training
return and episodes), results.csv (per method and seed: the return over
the last fifth of training, over all of it, and the first chunk whose mean
return is above half the best one seen by any agent), table.md and
feudal_keydoor.png (return over training, mean and 95 % CI over seeds)."""

import numpy as np

from jaxmeta.learners.base import FAILURE_NONE
from jaxmeta.run.report_common import chunk_return, ci_band, write_results
from jaxmeta.score.stats import format_ci


def empty_host(experiment) -> dict:
    """Per method: the chunks' returns and episodes, per seed."""
    return {
        "methods": {
            m: {"returns": [], "episodes": [], "failed": []} for m in experiment.methods
        },
        "intrinsic": [],
        "seconds": {group: 0.0 for group in experiment.groups},
    }


def report(experiment, chunk, outputs, host, sink):
    """A chunk's curves rows; the table when the last chunk lands."""
    rows = []
    steps = (chunk + 1) * experiment.steps_per_chunk
    for group, out in outputs.items():
        mean = chunk_return(out["episode_return"], out["episodes"])
        episodes = np.asarray(out["episodes"], float).sum(axis=1)
        failed = np.asarray(out["failure"]) != FAILURE_NONE
        host["seconds"][group] += float(out["seconds"])
        methods = experiment.groups[group]
        for name in dict.fromkeys(methods):
            at = [i for i, m in enumerate(methods) if m == name]
            record = host["methods"][name]
            record["returns"].append(mean[at].tolist())
            record["episodes"].append(episodes[at].tolist())
            record["failed"] = failed[at].tolist()
            for seed, i in enumerate(at):
                rows.append({"method": name, "seed": seed, "chunk": chunk,
                             "env_steps": steps, "train_return": mean[i],
                             "episodes": episodes[i]})  # fmt: skip
        if "intrinsic" in out:
            host["intrinsic"].append(np.asarray(out["intrinsic"]).mean(1).tolist())
    sink.append("curves.csv", rows)
    postfix = {"done": f"{chunk + 1}/{experiment.num_chunks}"}
    if chunk + 1 == experiment.num_chunks:
        refresh(experiment, host, sink)
        postfix["messages"] = ["\n" + table(experiment, result_rows(experiment, host))]
    return host, postfix


def result_rows(experiment, host) -> list[dict]:
    """Per (method, seed): final and mean training return, chunks to half
    the best chunk return of any agent (None if never), failures."""
    curves = {m: np.asarray(r["returns"], float) for m, r in host["methods"].items()
              if r["returns"]}  # fmt: skip
    if not curves:
        return []
    best = max(float(np.nanmax(c)) if np.isfinite(c).any() else 0.0
               for c in curves.values())  # fmt: skip
    last = max(1, len(next(iter(curves.values()))) // 5)
    rows = []
    for name in experiment.methods:
        if name not in curves:
            continue
        curve = curves[name]  # [chunks, seeds]
        group = "flat" if name == "flat-lstm" else "fun"
        for seed in range(curve.shape[1]):
            values = np.nan_to_num(curve[:, seed], nan=0.0)
            hit = np.flatnonzero(values >= 0.5 * best) if best > 0 else []
            rows.append({
                "method": name, "seed": seed,
                "final_return": float(values[-last:].mean()),
                "mean_return": float(values.mean()),
                "env_steps_to_half_best": (int(hit[0]) + 1)
                * experiment.steps_per_chunk if len(hit) else None,
                "failed": host["methods"][name]["failed"][seed],
                "group_wall_seconds": host["seconds"][group],
            })  # fmt: skip
    return rows


def table(experiment, rows) -> str:
    """Markdown: per method, final and mean training return (mean ± 95 % CI
    over seeds), seeds reaching half the best return and when."""
    c = experiment.config
    total = c.updates * experiment.learners["fun"].steps_per_update
    lines = [
        f"{c.env} {c.env_config or ''}, {c.seeds} seeds, {total:,} env steps per agent",
        "",
        "| method | final return (last 1/5) | mean return over training | "
        "seeds at half the best | env steps to it, median | wall s (group) |",
        "|---|---|---|---|---|---|",
    ]
    for name in experiment.methods:
        mine = [r for r in rows if r["method"] == name]
        if not mine:
            continue
        reached = [r["env_steps_to_half_best"] for r in mine
                   if r["env_steps_to_half_best"] is not None]  # fmt: skip
        median = f"{np.median(reached):,.0f}" if reached else "not reached"
        cells = [name, format_ci([r["final_return"] for r in mine], digits=3),
                 format_ci([r["mean_return"] for r in mine], digits=3),
                 f"{len(reached)}/{len(mine)}", median,
                 f"{mine[0]['group_wall_seconds']:.0f}"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def refresh(experiment, host, sink) -> None:
    """results.csv, table.md, feudal_keydoor.png."""
    rows = result_rows(experiment, host)
    write_results(
        sink, rows, table(experiment, rows) if rows else "", "feudal_keydoor.png",
        lambda fig: _plot(fig, experiment, host), (7, 4),
    )  # fmt: skip


def _plot(fig, experiment, host):
    ax = fig.add_subplot(1, 1, 1)
    for j, name in enumerate(experiment.methods):
        record = host["methods"].get(name)
        if not record or not record["returns"]:
            continue
        values = np.nan_to_num(np.asarray(record["returns"], float), nan=0.0)
        steps = experiment.steps_per_chunk * np.arange(1, len(values) + 1)
        ci_band(ax, steps, values, f"C{j}", name)
    ax.set_xlabel("env steps per agent")
    ax.set_ylabel("training return (mean over seeds, 95% CI)")
    ax.set_title(f"{experiment.config.env}: FeUdal vs flat LSTM", fontsize=9)
    ax.legend(fontsize=7)
