"""The host side of a multi-fidelity run: rows, tables, plots, TensorBoard.

Files in the run directory (as a tuning run's, see `run.tune_report`):
  metrics.csv         one row per (round, bracket, rung, member, update)
  members.csv         one row per member and rung it was evaluated at: its
                      budget, hparams, returns, scores, whether it was
                      promoted, failure reason and the update it failed at
  best_config.json    the best member trained to the full budget
  learning_curve.png  episode return per update, full-budget members bold
Members are numbered within their bracket (the index of their config in the
bracket's ask), so one member keeps its number from rung to rung.
"""

import numpy as np

from jaxmeta.learners.base import FAILURE_NONE, FAILURE_REASONS
from jaxmeta.run.population_report import (
    latest_finite,
    latest_return_postfix,
    metric_rows,
    write_scalars,
)
from jaxmeta.run.tune_report import (
    best_rows,
    failed_text,
    format_table,
    rescore_rows,
)
from jaxmeta.search.successive_halving import total_updates

INDEX = ("round", "bracket", "rung", "member")  # a member row's identity


def empty_host() -> dict:
    """Nothing evaluated yet: member rows, curves by "round/bracket/member"."""
    return {"members": [], "curves": {}, "best_eval": None}


def _by_member(metrics, rows, ids, population):
    """Chunk metrics `[size, chunk]` of slot `rows` re-indexed by member id
    (`[population, chunk]`, NaN where a member is not in the rung)."""
    out = {}
    for name, value in metrics.items():
        if np.ndim(value) != 2:
            continue
        full = np.full((population, value.shape[1]), np.nan, np.float64)
        full[ids] = value[rows]
        out[name] = full
    return out


def full_budget_rows(experiment, rows) -> list[dict]:
    """The rows of members trained to `num_updates` (every bracket's last rung)."""
    return [r for r in rows if r["budget"] == experiment.config.num_updates]


def report(experiment, chunk, outputs, host, sink):
    """One chunk's metric rows and scalars; at a rung's end its members."""
    config, where = experiment.config, experiment.plan[chunk]
    member = np.asarray(outputs["member"])
    rows = np.flatnonzero(member >= 0)
    ids = member[rows]
    metrics = _by_member(
        {k: np.asarray(v) for k, v in outputs["metrics"].items()},
        rows,
        ids,
        config.population_size,
    )
    sink.append(
        "metrics.csv",
        metric_rows(
            metrics,
            ids,
            where.first_update,
            round=where.round,
            bracket=where.bracket,
            rung=where.rung,
        ),
    )
    # TensorBoard steps count the run's chunks, so they only ever grow.
    write_scalars(sink, metrics, ids, chunk * config.chunk_size)
    for m in ids:
        key = f"{where.round}/{where.bracket}/{m}"
        curve = host["curves"].setdefault(key, [])
        curve.extend(float(x) for x in metrics["episode_return"][m])
    messages = []
    if "end" in outputs:
        new = _member_rows(experiment, where, outputs["end"], host["curves"])
        host["members"].extend(new)
        rescore_rows(experiment, host["members"])
        finite = [
            r["eval_return"]
            for r in full_budget_rows(experiment, host["members"])
            if not r["failed"]
        ]
        host["best_eval"] = max(finite) if finite else host["best_eval"]
        messages = failure_lines(experiment, where, new)
        refresh(experiment, host, sink)
    postfix = {
        "bracket": f"{where.bracket + 1}/{len(experiment.brackets)}",
        "rung": f"{where.rung + 1}/{len(experiment.brackets[where.bracket])}",
    }
    if host["best_eval"] is not None:
        postfix["best_eval"] = host["best_eval"]
    postfix.update(latest_return_postfix(metrics, ids))
    postfix["messages"] = messages
    return host, postfix


def _member_rows(experiment, where, end, curves):
    rung = experiment.brackets[where.bracket][where.rung]
    member = np.asarray(end["member"])
    rows = []
    for slot in np.flatnonzero(member >= 0):
        m = int(member[slot])
        code = int(end["failure_code"][slot])
        failed_at = int(end["failure_update"][slot])
        row = {
            "round": where.round,
            "bracket": where.bracket,
            "rung": where.rung,
            "budget": rung.budget,
            "member": m,
        }
        row.update(
            {
                n: float(getattr(end["hparams"], n)[slot])
                for n in experiment.hparam_names
            }
        )
        row.update(
            final_train_return=latest_finite(
                curves[f"{where.round}/{where.bracket}/{m}"]
            ),
            eval_return=float(end["eval_return"][slot]),
            told_score=float("nan"),
            hyperscore=float("nan"),  # both set by rescore_rows
            failed=code != FAILURE_NONE,
            failure=FAILURE_REASONS[code],
            failed_at_update=failed_at if failed_at >= 0 else None,
            promoted=bool(end["promoted"][slot]),
        )
        rows.append(row)
    return rows


def failure_lines(experiment, where, rows) -> list[str]:
    """The progress line for a rung's failed members (`rows`: its member
    rows), saying whether they were dropped; [] when none failed."""
    failed = [r for r in rows if r["failed"]]
    if not failed:
        return []
    kept = sum(r["promoted"] for r in failed)
    fate = f"{kept} of them promoted (too few finite members)" if kept else "dropped"
    rung = experiment.brackets[where.bracket][where.rung]
    return [
        f"round {where.round + 1}/{experiment.config.rounds} bracket "
        f"{where.bracket + 1} rung {where.rung + 1} (budget {rung.budget}): "
        f"{len(failed)} member(s) failed: {failed_text(failed)}; {fate} "
        f"(members.csv lists all)"
    ]


def refresh(experiment, host, sink) -> None:
    """Rewrite members.csv, best_config.json and learning_curve.png."""
    rows = host["members"]
    if rows:
        sink.write_csv("members.csv", rows)
    full = full_budget_rows(experiment, rows)
    if full:
        sink.write_json("best_config.json", best_rows(full, 1)[0])
    if host["curves"]:
        bold = {f"{r['round']}/{r['bracket']}/{r['member']}" for r in full}
        sink.figure(
            "learning_curve.png", lambda fig: _plot_curves(fig, host["curves"], bold)
        )


def _plot_curves(fig, curves, bold) -> None:
    ax = fig.add_subplot()
    labelled = set()
    for key, curve in curves.items():
        bracket = int(key.split("/")[1])
        curve = np.asarray(curve, float)
        x = np.arange(curve.size)
        mask = np.isfinite(curve)
        strong = key in bold
        label = None
        if strong and bracket not in labelled:
            label = f"bracket {bracket + 1}, full budget"
            labelled.add(bracket)
        ax.plot(
            x[mask],
            curve[mask],
            color=f"C{bracket % 10}",
            alpha=1.0 if strong else 0.2,
            lw=1.6 if strong else 0.8,
            label=label,
        )
    ax.set_xlabel("update of the member")
    ax.set_ylabel("episode return")
    if labelled:
        ax.legend(loc="lower right")


def summary(experiment, rows, top: int = 5) -> str:
    """The best `top` full-budget members as a markdown table and the schedule."""
    full = full_budget_rows(experiment, rows) or rows
    best = best_rows(full, top)
    updates = total_updates(experiment.brackets) * experiment.config.rounds
    return (
        f"best configs at the full budget (HyperScore in [100, 200]):\n"
        f"{format_table(best, experiment.hparam_names, INDEX)}\n\n"
        f"best eval return {best[0]['eval_return']:.1f} over "
        f"{experiment.config.eval_episodes} episodes; "
        f"{len(rows)} member evaluations in {len(experiment.brackets)} bracket(s) "
        f"x {experiment.config.rounds} round(s), {updates} member-updates in all"
    )
