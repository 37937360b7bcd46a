"""The host side of the MAXQ Taxi experiment (`run.maxq`): learning curves
(curves.csv: per method, trial and chunk, the training episodes so far,
the mean training return over the chunk and the greedy return over the 300
start states), results (results.csv: per method and trial, the episodes to
the optimum), table.md and maxq_taxi.png."""

import numpy as np

from jaxmeta.learners.base import FAILURE_NONE
from jaxmeta.run.report_common import ci_band, write_results
from jaxmeta.score.stats import format_ci

# Dietterich (2000), Figure 8 (Taxi): MAXQ-Q with all-states updating
# reaches the optimal policy's return far sooner than flat Q-learning;
# the seed chapter gives no numbers.


def empty_host(experiment) -> dict:
    """Per method: episodes so far, greedy mean and optimal flag per chunk,
    per trial."""
    return {"methods": {name: {"episodes": [], "train": [], "greedy": [],
                               "optimal": [], "failed": []}
                        for name in experiment.learners},
            "seconds": {name: 0.0 for name in experiment.learners}}  # fmt: skip


def report(experiment, chunk, outputs, host, sink):
    """A chunk's curves rows; the table when the last chunk lands. Wall
    seconds per method include its first chunk's compilation."""
    rows = []
    optimal = experiment.optimal
    for name, out in outputs.items():
        record = host["methods"][name]
        episodes = np.asarray(out["episodes"], float).sum(axis=1)  # [trials]
        returns = np.asarray(out["episode_return"], float)
        counts = np.asarray(out["episodes"], float)
        with np.errstate(invalid="ignore"):
            train = np.nansum(returns * counts, axis=1) / counts.sum(axis=1)
        greedy = np.asarray(out["greedy"], float)  # [trials, starts]
        before = np.asarray(record["episodes"][-1]) if record["episodes"] else 0.0
        record["episodes"].append((before + episodes).tolist())
        record["train"].append(train.tolist())
        record["greedy"].append(greedy.mean(axis=1).tolist())
        record["optimal"].append(np.all(greedy == optimal[None], axis=1).tolist())
        record["failed"] = (np.asarray(out["failure"]) != FAILURE_NONE).tolist()
        host["seconds"][name] += float(out["seconds"])
        for trial in range(greedy.shape[0]):
            rows.append({
                "method": name, "trial": trial, "chunk": chunk,
                "env_steps": (chunk + 1) * experiment.updates_per_chunk
                * experiment.config.num_steps,
                "episodes": record["episodes"][-1][trial],
                "train_return": record["train"][-1][trial],
                "greedy_return": record["greedy"][-1][trial],
                "greedy_optimal": record["optimal"][-1][trial],
            })  # fmt: skip
    sink.append("curves.csv", rows)
    postfix = {"done": f"{chunk + 1}/{experiment.num_chunks}"}
    if chunk + 1 == experiment.num_chunks:
        refresh(experiment, host, sink)
        postfix["messages"] = ["\n" + table(experiment, result_rows(experiment, host))]
    return host, postfix


def result_rows(experiment, host) -> list[dict]:
    """Per (method, trial): episodes and env steps to the first optimal
    greedy policy (None if never), final greedy and training returns."""
    rows = []
    per_chunk = experiment.updates_per_chunk * experiment.config.num_steps
    for name, record in host["methods"].items():
        if not record["optimal"]:
            continue
        optimal = np.asarray(record["optimal"], bool)  # [chunks, trials]
        episodes = np.asarray(record["episodes"], float)
        for trial in range(optimal.shape[1]):
            hit = np.flatnonzero(optimal[:, trial])
            first = int(hit[0]) if hit.size else None
            rows.append({
                "method": name, "trial": trial,
                "reached_optimum": first is not None,
                "episodes_to_optimum": episodes[first, trial] if hit.size else None,
                "env_steps_to_optimum": (first + 1) * per_chunk if hit.size else None,
                "final_greedy_return": record["greedy"][-1][trial],
                "final_train_return": record["train"][-1][trial],
                "failed": record["failed"][trial] if record["failed"] else False,
                "method_wall_seconds": host["seconds"][name],
            })  # fmt: skip
    return rows


def table(experiment, rows) -> str:
    """Markdown: per method, how many trials reached the optimal policy and
    after how many episodes (mean ± 95% CI over those that did), and the
    speed-up over flat Q-learning in median episodes."""
    c = experiment.config
    lines = [
        f"Taxi-v3, {c.trials} trials, {c.updates * c.num_steps:,} env steps each; "
        f"optimal mean return over the 300 starts {experiment.optimal.mean():.3f}",
        "",
        "| method | reached optimum | episodes to optimum, mean ± 95% CI | "
        "median | env steps, median | final greedy return | wall s |",
        "|---|---|---|---|---|---|---|",
    ]
    medians = {}
    for name in experiment.learners:
        mine = [r for r in rows if r["method"] == name]
        if not mine:
            continue
        hit = np.array([r["reached_optimum"] for r in mine])
        episodes = np.array(
            [r["episodes_to_optimum"] if r["reached_optimum"] else np.inf
             for r in mine], float,
        )  # fmt: skip
        steps = np.array([r["env_steps_to_optimum"] or np.inf for r in mine], float)
        median = float(np.median(episodes))
        medians[name] = median
        text = lambda x: f"{x:,.0f}" if np.isfinite(x) else "not reached"  # noqa: E731
        cells = [
            name, f"{hit.sum()}/{len(mine)}", format_ci(episodes[hit], digits=0),
            text(median), text(float(np.median(steps))),
            format_ci([r["final_greedy_return"] for r in mine], digits=2),
            f"{mine[0]['method_wall_seconds']:.1f}",
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    flat = medians.get("flat-q")
    if flat is not None and np.isfinite(flat):
        ratios = [f"{n} {flat / m:.1f}x" for n, m in medians.items()
                  if n != "flat-q" and np.isfinite(m)]  # fmt: skip
        lines += ["", "Speed-up in median episodes over flat-q: " + ", ".join(ratios)]
    return "\n".join(lines) + "\n"


def refresh(experiment, host, sink) -> None:
    """results.csv, table.md, maxq_taxi.png."""
    rows = result_rows(experiment, host)
    write_results(
        sink, rows, table(experiment, rows) if rows else "", "maxq_taxi.png",
        lambda fig: _plot(fig, experiment, host), (10, 4),
    )  # fmt: skip


def _plot(fig, experiment, host):
    ax_train, ax_greedy = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    per_chunk = experiment.updates_per_chunk * experiment.config.num_steps
    for j, (name, record) in enumerate(host["methods"].items()):
        if not record["greedy"]:
            continue
        steps = per_chunk * np.arange(1, len(record["greedy"]) + 1)
        for ax, key in ((ax_train, "train"), (ax_greedy, "greedy")):
            ci_band(ax, steps, record[key], f"C{j}", name)
    for ax, title in ((ax_train, "training return (epsilon-greedy)"),
                      (ax_greedy, "greedy return, mean over 300 starts")):  # fmt: skip
        ax.axhline(experiment.optimal.mean(), color="k", ls="--", lw=0.8,
                   label="optimal")  # fmt: skip
        ax.set_xlabel("env steps")
        ax.set_title(f"Taxi: {title}", fontsize=8)
        ax.legend(fontsize=6)
    ax_train.set_ylabel("return (mean over trials, 95% CI)")
