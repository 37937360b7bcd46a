"""The host side of a tuning run: rows, tables, plots and TensorBoard scalars.

Files in the run directory (see also `run.results`):
  metrics.csv         one row per (round, member, update), appended every chunk
  members.csv         one row per evaluated member: hparams, returns, scores,
                      failure reason and the update it failed at
  best_config.json    the best member (latest normalisation; failed last)
  learning_curve.png  episode return per update, each round's best bold
  tensorboard/        population and per-member scalars
Only real trials are reported (grid padding is not).
"""

import numpy as np

from jaxmeta.learners.base import FAILURE_NONE, FAILURE_REASONS
from jaxmeta.run.population_report import (
    latest_finite,
    latest_return_postfix,
    metric_rows,
    write_scalars,
)
from jaxmeta.score import hyper_score, hyper_score_log_excess


def empty_host() -> dict:
    """The host record of a run that has not evaluated anyone yet."""
    return {"members": [], "curves": [], "best_eval": None}


def _member_rows(experiment, round_index, end, curves):
    names = experiment.hparam_names
    rows = []
    for m in np.flatnonzero(end["trial"]):
        code = int(end["failure_code"][m])
        failed_at = int(end["failure_update"][m])
        row = {"round": round_index, "member": int(m)}
        row.update({n: float(getattr(end["hparams"], n)[m]) for n in names})
        row.update(
            final_train_return=latest_finite(curves[m]),
            eval_return=float(end["eval_return"][m]),
            told_score=float(end["told_score"][m]),
            hyperscore=float(end["hyperscore"][m]),
            failed=code != FAILURE_NONE,
            failure=FAILURE_REASONS[code],
            failed_at_update=failed_at if failed_at >= 0 else None,
        )
        if "early_return" in end:  # calibrating online: the pair's early half
            row["early_return"] = float(end["early_return"][m])
        rows.append(row)
    return rows


def rescore_rows(experiment, rows, shape=None) -> None:
    """HyperScore and told score of every row with the run's latest
    normalisation (the given bounds, or every evaluated member's range) and
    HyperScore `shape` ([beta, gamma, kappa]; None: the default)."""
    if not rows:
        return
    returns = np.array(
        [np.nan if r["failed"] else r["eval_return"] for r in rows], np.float32
    )
    low, high = experiment.config.return_bounds or (None, None)
    if low is None and not np.isfinite(returns).any():
        low, high = 0.0, 1.0  # every member failed: any range scores them NaN/100
    shape = () if shape is None else tuple(shape)
    scores = np.asarray(hyper_score(returns, low, high, *shape))
    told = np.asarray(hyper_score_log_excess(returns, low, high, *shape))
    for row, score, t in zip(rows, scores, told, strict=True):
        row["hyperscore"], row["told_score"] = float(score), float(t)


def best_rows(rows: list[dict], k: int = 5) -> list[dict]:
    """The `k` best members over all rounds: finite before failed, then by
    HyperScore, then by evaluation return (NaN last)."""

    def rank(row):
        eval_return = row["eval_return"]
        finite = np.isfinite(eval_return)
        return (
            not row.get("failed", False),
            row["hyperscore"],
            eval_return if finite else -np.inf,
        )

    return sorted(rows, key=rank, reverse=True)[:k]


def failed_text(failed: list[dict]) -> str:
    """'#3 non-finite loss at update 1, ...' for failed member rows (the
    first 8, then how many more)."""
    shown = ", ".join(
        f"#{r['member']} {r['failure']}"
        + (
            f" at update {r['failed_at_update']}"
            if r["failed_at_update"] is not None
            else ""
        )
        for r in failed[:8]
    )
    return shown + (f" and {len(failed) - 8} more" if len(failed) > 8 else "")


def _failure_lines(experiment, round_index, rows) -> list[str]:
    failed = [r for r in rows if r["failed"]]
    if not failed:
        return []
    return [
        f"round {round_index + 1}/{experiment.config.rounds}: {len(failed)} "
        f"member(s) failed: {failed_text(failed)} (members.csv lists all)"
    ]


def report(experiment, chunk, outputs, host, sink):
    """Write one chunk's rows and scalars; at a round's end, its members."""
    config = experiment.config
    round_index, in_round = divmod(chunk, config.chunks_per_round)
    metrics = {k: np.asarray(v) for k, v in outputs["metrics"].items()}
    trial = np.asarray(outputs["trial"], bool)[: config.population_size]
    members = np.flatnonzero(trial)
    first = in_round * config.chunk_size
    sink.append("metrics.csv", metric_rows(metrics, members, first, round=round_index))
    write_scalars(sink, metrics, members, round_index * config.num_updates + first)
    curves = host["curves"]
    if in_round == 0:
        curves.append([[] for _ in range(config.population_size)])
    for m in range(config.population_size):
        curves[round_index][m].extend(float(x) for x in metrics["episode_return"][m])
    messages = []
    if "end" in outputs:
        rows = _member_rows(
            experiment, round_index, outputs["end"], curves[round_index]
        )
        host["members"].extend(rows)
        if "shape" in outputs["end"]:
            host["shape"] = [float(x) for x in outputs["end"]["shape"]]
            beta, gamma, kappa = host["shape"]
            sink.scalars(
                (round_index + 1) * config.num_updates - 1,
                {"calibration/beta": beta, "calibration/gamma": gamma,
                 "calibration/kappa": kappa,
                 "calibration/correlation": float(outputs["end"]["calibration_r"])},
            )  # fmt: skip
        rescore_rows(experiment, host["members"], host.get("shape"))
        finite = [r["eval_return"] for r in host["members"] if not r["failed"]]
        host["best_eval"] = max(finite) if finite else None
        messages = _failure_lines(experiment, round_index, rows)
        refresh(experiment, host, sink)
        step = (round_index + 1) * config.num_updates - 1
        if finite:
            sink.scalars(step, {"round/best_eval_return": host["best_eval"]})
    postfix = {"round": f"{round_index + 1}/{config.rounds}"}
    if host["best_eval"] is not None:
        postfix["best_eval"] = host["best_eval"]
    postfix.update(latest_return_postfix(metrics, members))
    postfix["messages"] = messages
    return host, postfix


def refresh(experiment, host, sink) -> None:
    """Rewrite members.csv, best_config.json and learning_curve.png."""
    rows = host["members"]
    if rows:
        sink.write_csv("members.csv", rows)
        sink.write_json("best_config.json", best_rows(rows, 1)[0])
    if host["curves"]:
        best = {(r["round"], r["member"]) for r in _round_bests(rows)}
        sink.figure(
            "learning_curve.png",
            lambda fig: _plot_curves(fig, host["curves"], best),
        )


def _round_bests(rows):
    bests = {}
    for row in rows:
        bests.setdefault(row["round"], []).append(row)
    return [best_rows(group, 1)[0] for group in bests.values()]


def _plot_curves(fig, curves, best) -> None:
    ax = fig.add_subplot()
    offset = 0
    for r, members in enumerate(curves):
        for m, curve in enumerate(members):
            curve = np.asarray(curve, float)
            x = offset + np.arange(curve.size)
            mask = np.isfinite(curve)
            bold = (r, m) in best
            ax.plot(
                x[mask], curve[mask], color=f"C{r % 10}",
                alpha=1.0 if bold else 0.15, lw=2.0 if bold else 0.8,
                label=f"round {r + 1} best" if bold else None,
            )  # fmt: skip
        offset += max((len(c) for c in members), default=0)
    ax.set_xlabel("update (rounds side by side)")
    ax.set_ylabel("episode return")
    if best:
        ax.legend(loc="lower right")


def format_table(
    rows: list[dict], hparam_names: list[str], index=("round", "member")
) -> str:
    """A markdown table of members: the `index` columns (round, member),
    hparams, score, returns."""
    head = [
        *index, *hparam_names, "HyperScore", "eval return", "train ret", "failed",
    ]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [str(row[name]) for name in index]
        cells += [f"{row[n]:.4g}" for n in hparam_names]
        cells += [
            f"{row['hyperscore']:.2f}",
            f"{row['eval_return']:.1f}",
            f"{row['final_train_return']:.1f}",
            row["failure"] or "no",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
