"""The host side of a PBT run: metrics and lineage rows, final members, plots."""

import numpy as np

from jaxmeta.learners.base import FAILURE_NONE, FAILURE_REASONS
from jaxmeta.run.population_report import (
    latest_finite,
    latest_return_postfix,
    metric_rows,
    write_scalars,
)


def empty_host(experiment) -> dict:
    """Nothing reported yet: curves[member] (episode return per update),
    schedule[name][chunk][member] (hparams in force), lineage rows, members."""
    pop = experiment.config.population_size
    return {
        "curves": [[] for _ in range(pop)],
        "schedule": {n: [] for n in experiment.hparam_names},
        "lineage": [],
        "members": [],
    }


def _values(hparams, names, pop):
    return {n: np.asarray(getattr(hparams, n), float)[:pop] for n in names}


def report(experiment, chunk, outputs, host, sink):
    """One chunk: metric rows (with the hparams in force), TensorBoard, the
    copies this chunk's exploit step made, and the final members at the end."""
    config, names = experiment.config, experiment.hparam_names
    pop = config.population_size
    metrics = {k: np.asarray(v)[:pop] for k, v in outputs["metrics"].items()}
    used = _values(outputs["hparams"], names, pop)
    first = chunk * config.chunk_size
    with_hparams = dict(metrics)
    for name, value in used.items():
        with_hparams[f"hp/{name}"] = np.repeat(value[:, None], config.chunk_size, 1)
    members = np.arange(pop)
    sink.append("metrics.csv", metric_rows(with_hparams, members, first))
    write_scalars(sink, metrics, members, first)
    for m in members:
        host["curves"][m].extend(float(x) for x in metrics["episode_return"][m])
    for name in names:
        host["schedule"][name].append(used[name].tolist())
    new = _values(outputs["new_hparams"], names, pop)
    parent = np.asarray(outputs["lineage"]["parent"])[:pop]
    resampled = np.asarray(outputs["lineage"]["resampled"])[:pop]
    update = first + config.chunk_size
    rows = []
    for m in np.flatnonzero(parent >= 0):
        row = {"update": update, "member": int(m), "parent": int(parent[m]),
               "resampled": bool(resampled[m])}  # fmt: skip
        row.update({n: float(new[n][m]) for n in names})
        rows.append(row)
    sink.append("lineage.csv", rows)
    host["lineage"].extend(rows)
    if rows:
        sink.scalars(update - 1, {"pbt/copies": float(len(rows))})
    messages = []
    if "end" in outputs:
        host["members"] = _member_rows(experiment, outputs["end"], used, host)
        failed = [r for r in host["members"] if r["failed"]]
        if failed:
            messages.append(f"{len(failed)} member(s) failed (members.csv lists them)")
        refresh(experiment, host, sink)
    postfix = {"copies": len(host["lineage"])}
    postfix.update(latest_return_postfix(metrics, members))
    postfix["messages"] = messages
    return host, postfix


def _member_rows(experiment, end, used, host):
    rows = []
    copies = np.zeros(experiment.config.population_size, int)
    for row in host["lineage"]:
        copies[row["member"]] += 1
    for m in range(experiment.config.population_size):
        code = int(end["failure_code"][m])
        failed_at = int(end["failure_update"][m])
        row = {"member": m}
        row.update({n: float(used[n][m]) for n in experiment.hparam_names})
        row.update(
            eval_return=float(end["eval_return"][m]),
            final_train_return=latest_finite(host["curves"][m]),
            copies=int(copies[m]),
            failed=code != FAILURE_NONE,
            failure=FAILURE_REASONS[code],
            failed_at_update=failed_at if failed_at >= 0 else None,
        )
        rows.append(row)
    return rows


def _rank(row):
    value = row["eval_return"]
    return (not row["failed"], value if np.isfinite(value) else -np.inf)


def best_member(rows):
    """The best final member: finite before failed, then by eval return."""
    return max(rows, key=_rank)


def refresh(experiment, host, sink) -> None:
    """members.csv, best_config.json (with the best slot's hparams schedule),
    learning_curve.png and lineage.png."""
    rows = host["members"]
    if rows:
        sink.write_csv("members.csv", rows)
        best = dict(best_member(rows))
        best["schedule"] = {
            n: [chunk[best["member"]] for chunk in host["schedule"][n]]
            for n in experiment.hparam_names
        }
        sink.write_json("best_config.json", best)
    if host["curves"] and host["curves"][0]:
        best_slot = best_member(rows)["member"] if rows else None
        sink.figure(
            "learning_curve.png", lambda fig: _plot_curves(fig, host, best_slot)
        )
        sink.figure(
            "lineage.png",
            lambda fig: _plot_lineage(fig, experiment, host, best_slot),
            size=(7, 2.6 * len(experiment.hparam_names)),
        )


def _plot_curves(fig, host, best_slot):
    ax = fig.add_subplot()
    for m, curve in enumerate(host["curves"]):
        curve = np.asarray(curve, float)
        mask = np.isfinite(curve)
        bold = m == best_slot
        ax.plot(np.flatnonzero(mask), curve[mask], color="C0" if bold else "0.6",
                lw=2.0 if bold else 0.7, alpha=1.0 if bold else 0.5,
                label="best final member" if bold else None)  # fmt: skip
    ax.set_xlabel("update")
    ax.set_ylabel("episode return")
    if best_slot is not None:
        ax.legend(loc="lower right")


def _plot_lineage(fig, experiment, host, best_slot):
    """Each hparam per member over updates; a dot where a member copied
    another (its new value), the best final member bold."""
    chunk = experiment.config.chunk_size
    names = experiment.hparam_names
    for i, name in enumerate(names):
        ax = fig.add_subplot(len(names), 1, i + 1)
        values = np.asarray(host["schedule"][name], float)  # [chunks, pop]
        values = np.concatenate([values, values[-1:]])  # hold the last chunk's
        x = np.arange(values.shape[0]) * chunk
        for m in range(values.shape[1]):
            bold = m == best_slot
            ax.step(x, values[:, m], where="post", color="C1" if bold else "0.6",
                    lw=2.0 if bold else 0.6)  # fmt: skip
        copies = host["lineage"]
        if copies:
            ax.scatter([r["update"] for r in copies], [r[name] for r in copies], s=6,
                       color="C3", zorder=3, label="copy + explore")  # fmt: skip
        if experiment.space.dims[name].__class__.__name__ == "LogUniform":
            ax.set_yscale("log")
        ax.set_ylabel(name)
        if i == 0 and copies:
            ax.legend(loc="upper right", fontsize=7)
    ax.set_xlabel("update")


def format_table(rows, names, top: int = 5) -> str:
    """A markdown table of the best `top` final members."""
    ranked = sorted(rows, key=_rank, reverse=True)[:top]
    head = ["member", *names, "eval return", "train ret", "copies", "failed"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in ranked:
        cells = [str(r["member"]), *(f"{r[n]:.4g}" for n in names),
                 f"{r['eval_return']:.1f}", f"{r['final_train_return']:.1f}",
                 str(r["copies"]), r["failure"] or "no"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "final members by evaluation return:\n" + "\n".join(lines)
