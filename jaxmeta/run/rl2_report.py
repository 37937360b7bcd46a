"""The host side of the RL^2 experiment (`run/rl2.py`): training curves,
one result row per setting and method, the tables beside the numbers of
Duan et al. (2016), and the plots.

The paper's numbers (Tables 1 and 2: total reward averaged over 1000
tasks, no intervals given) are shown only for settings whose task
distribution is the paper's: bandit arms U[0, 1] with k in {5, 10, 50}, n in
{10, 100, 500}; MDPs with 10 states, 5 actions, horizon 10, n in {10, 25,
50, 75, 100}. The paper has no Q-learning column, and its OTS, OPSRL, UCRL2
and BEB columns have no counterpart here.
"""

import numpy as np

from jaxmeta.learners.base import FAILURE_NONE
from jaxmeta.run.rl2_config import grid_labels
from jaxmeta.score.stats import mean_ci

_BANDIT_COLUMNS = ("random", "gittins", "thompson", "ucb1", "epsilon-greedy",
                   "greedy", "rl2")  # fmt: skip
_BANDIT_ROWS = {
    (10, 5): (5.0, 6.6, 5.7, 6.7, 6.6, 6.6, 6.7),
    (10, 10): (5.0, 6.6, 5.5, 6.7, 6.6, 6.6, 6.7),
    (10, 50): (5.1, 6.5, 5.2, 6.6, 6.5, 6.5, 6.8),
    (100, 5): (49.9, 78.3, 74.7, 78.0, 75.4, 74.8, 78.7),
    (100, 10): (49.9, 82.8, 76.7, 82.4, 77.4, 77.1, 83.5),
    (100, 50): (49.8, 85.2, 64.5, 84.3, 78.3, 78.0, 84.9),
    (500, 5): (249.8, 405.8, 402.0, 405.8, 388.2, 380.6, 401.6),
    (500, 10): (249.0, 437.8, 429.5, 437.1, 408.0, 395.0, 432.5),
    (500, 50): (249.6, 463.7, 427.2, 457.6, 413.6, 402.8, 438.9),
}
_MDP_COLUMNS = ("random", "psrl", "epsilon-greedy", "greedy", "rl2")
_MDP_ROWS = {
    10: (100.1, 138.1, 132.8, 134.8, 156.2),
    25: (250.2, 408.8, 377.3, 368.8, 445.7),
    50: (499.7, 904.4, 823.3, 769.3, 936.1),
    75: (749.9, 1417.1, 1293.9, 1172.9, 1428.8),
    100: (999.4, 1939.5, 1778.2, 1578.5, 1913.7),
}
# (n, k) -> method -> total reward; n -> method -> total reward
PAPER_BANDITS = {
    key: dict(zip(_BANDIT_COLUMNS, row, strict=True))
    for key, row in _BANDIT_ROWS.items()
}
PAPER_MDPS = {
    key: dict(zip(_MDP_COLUMNS, row, strict=True)) for key, row in _MDP_ROWS.items()
}
ORDER = {
    "bandit": ("random", "gittins", "thompson", "ucb1", "epsilon-greedy", "greedy",
               "rl2", "rl2-greedy"),
    "mdp": ("random", "psrl", "epsilon-greedy", "greedy", "q-learning", "rl2",
            "rl2-greedy"),
}  # fmt: skip


def paper_value(spec: dict, method: str):
    """The paper's total reward for this setting and method, or None."""
    if spec["problem"] == "bandit":
        table = PAPER_BANDITS.get((spec["episodes"], spec["arms"]), {})
    elif (spec["states"], spec["actions"], spec["horizon"]) == (10, 5, 10):
        table = PAPER_MDPS.get(spec["episodes"], {})
    else:
        table = {}
    return table.get(method)


def empty_host(experiment) -> dict:
    """Per setting: RL^2's training curve (mean over seeds per update);
    per setting and method: mean reward per episode; the result rows."""
    return {
        "curves": {
            s.label: {"env_steps": [], "return": []} for s in experiment.settings
        },
        "per_episode": {s.label: {} for s in experiment.settings},
        "results": [],
    }


def _train_rows(setting, metrics, host, sink, chunk):
    seeds, per_chunk = setting.spec["seeds"], setting.per_chunk
    returns = np.asarray(metrics["episode_return"])[:seeds]
    steps = np.asarray(metrics["env_steps"])[:seeds]
    first = len(host["curves"][setting.label]["return"])
    sink.append(
        "curves.csv",
        [
            {
                "setting": setting.label,
                "seed": seed,
                "update": int(first + u),
                "env_steps": int(steps[seed, u]),
                "trial_return": float(returns[seed, u]),
            }
            for seed in range(seeds)
            for u in range(per_chunk)
        ],
    )
    curve = host["curves"][setting.label]
    curve["env_steps"].extend(steps[0].tolist())
    with np.errstate(all="ignore"):
        curve["return"].extend(np.nanmean(returns, 0).tolist())
        value = float(np.nanmean(returns))
    sink.scalars(chunk, {f"{setting.label}/trial_return": value})
    return value


def result_row(setting, method: str, out: dict, labels: dict) -> dict:
    """One setting and method: mean total reward, 95 % CI half width over
    tasks, the paper's number, the chosen grid value, failed RL^2 seeds."""
    spec = setting.spec
    mean, half, n = mean_ci(out["totals"])
    base = "rl2" if method.startswith("rl2") else method
    paper = paper_value(spec, base) if method != "rl2-greedy" else None
    choice = ""
    if "best" in out:
        choice = labels[method][int(out["best"])]
    failed = 0
    if base == "rl2":
        failed = int(np.sum(np.asarray(out["failure"]) != FAILURE_NONE))
    return {
        "setting": setting.label,
        "problem": spec["problem"],
        "arms": spec["arms"] if spec["problem"] == "bandit" else "",
        "episodes": spec["episodes"],
        "method": method,
        "mean": mean,
        "ci95": half,
        "tasks": n,
        "paper": "" if paper is None else paper,
        "choice": choice,
        "failed_seeds": failed,
    }


def report(experiment, chunk, outputs, host, sink):
    """Curve rows after a training chunk; result rows (and the tables) after
    a setting's evaluation."""
    index, sub = experiment.schedule[chunk]
    setting = experiment.settings[index]
    postfix = {"setting": f"{index + 1}/{len(experiment.settings)}"}
    if sub >= 0:
        postfix["trial_return"] = _train_rows(
            setting, outputs["metrics"], host, sink, chunk
        )
        return host, postfix
    labels = grid_labels(experiment.config, setting.spec["problem"])
    rows = []
    for method in ORDER[setting.spec["problem"]]:
        out = outputs[method]
        rows.append(result_row(setting, method, out, labels))
        host["per_episode"][setting.label][method] = np.asarray(
            out["per_episode"], float
        ).tolist()
    host["results"].extend(rows)
    sink.scalars(
        chunk, {f"{setting.label}/eval/{r['method']}": r["mean"] for r in rows}
    )
    # The tables now; the PNGs when the driver refreshes (before checkpoints).
    sink.write_csv("results.csv", host["results"])
    sink.write_text("table.md", tables(experiment, host["results"]))
    postfix["messages"] = ["\n" + setting_table(setting, rows)]
    return host, postfix


def _cell(row) -> str:
    digits = 2 if abs(row["mean"]) < 20 else 1  # n = 10 bandits differ in 0.01s
    paper = f" ({row['paper']:.1f})" if row["paper"] != "" else ""
    return f"{row['mean']:.{digits}f} ± {row['ci95']:.{digits}f}{paper}"


def setting_table(setting, rows) -> str:
    """Markdown: one setting's methods, ours beside the paper's."""
    lines = [
        f"#### {setting.label}",
        "",
        "| method | total reward (mean ± 95% CI) | paper | chosen |",
        "|---|---|---|---|",
    ]
    for r in rows:
        paper = f"{r['paper']:.1f}" if r["paper"] != "" else "—"
        lines.append(
            f"| {r['method']} | {r['mean']:.2f} ± {r['ci95']:.2f} | "
            f"{paper} | {r['choice']} |"
        )
    return "\n".join(lines)


def tables(experiment, rows) -> str:
    """Markdown: per problem, one row per setting and a column per method,
    each cell "ours ± 95 % CI (paper)"; then RL^2's training budgets."""
    out = []
    for problem, title in (("bandit", "Bernoulli bandits"), ("mdp", "Random MDPs")):
        settings = [s for s in experiment.settings if s.spec["problem"] == problem]
        if not settings:
            continue
        methods = ORDER[problem]
        out += [
            f"### {title}: total reward per trial, mean ± 95% CI over tasks "
            f"(paper in parentheses)",
            "",
            "| setting | " + " | ".join(methods) + " |",
            "|---|" + "---|" * len(methods),
        ]
        for s in settings:
            mine = {r["method"]: r for r in rows if r["setting"] == s.label}
            cells = [_cell(mine[m]) if m in mine else "" for m in methods]
            out.append(f"| {s.label} | " + " | ".join(cells) + " |")
        out.append("")
    out += [
        "### RL^2 training and the baselines' chosen hyperparameters",
        "",
        "| setting | updates | env steps per seed | seeds | chosen |",
        "|---|---|---|---|---|",
    ]
    for s in experiment.settings:
        mine = [r for r in rows if r["setting"] == s.label and r["choice"]]
        chosen = "; ".join(f"{r['method']}: {r['choice']}" for r in mine)
        steps = s.spec["updates"] * s.learner.steps_per_update
        out.append(
            f"| {s.label} | {s.spec['updates']} | {steps:,} | {s.spec['seeds']} | "
            f"{chosen} |"
        )
    return "\n".join(out) + "\n"


def refresh(experiment, host, sink) -> None:
    """results.csv, table.md, curves.png and episodes.png."""
    if host["results"]:
        sink.write_csv("results.csv", host["results"])
        sink.write_text("table.md", tables(experiment, host["results"]))
        sink.figure(
            "episodes.png",
            lambda fig: _plot_episodes(fig, experiment, host),
            size=(4 * _columns(experiment), 3 * _rows(experiment)),
        )
    if any(c["return"] for c in host["curves"].values()):
        sink.figure(
            "curves.png",
            lambda fig: _plot_curves(fig, experiment, host),
            size=(4 * _columns(experiment), 3 * _rows(experiment)),
        )


def _columns(experiment) -> int:
    return min(3, len(experiment.settings))


def _rows(experiment) -> int:
    return -(-len(experiment.settings) // _columns(experiment))


_ALL_METHODS = ("random", "gittins", "thompson", "ucb1", "epsilon-greedy", "greedy",
                "psrl", "q-learning", "rl2", "rl2-greedy")  # fmt: skip
COLORS = {m: f"C{i}" for i, m in enumerate(_ALL_METHODS)}  # one per method


def _smooth(values, width: int = 20):
    """Moving average over `width` updates (NaN updates skipped)."""
    x = np.asarray(values, float)
    if x.size == 0:  # a setting not trained yet
        return x
    ok = np.isfinite(x)
    kernel = np.ones(min(width, max(len(x), 1)))
    total = np.convolve(np.where(ok, x, 0.0), kernel, "same")
    count = np.convolve(ok.astype(float), kernel, "same")
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _plot_curves(fig, experiment, host):
    evaluated = {}
    for r in host["results"]:
        evaluated.setdefault(r["setting"], {})[r["method"]] = r["mean"]
    for i, s in enumerate(experiment.settings):
        ax = fig.add_subplot(_rows(experiment), _columns(experiment), i + 1)
        curve = host["curves"][s.label]
        steps = curve["env_steps"]
        ax.plot(steps, curve["return"], color="0.8", lw=0.5)
        ax.plot(
            steps, _smooth(curve["return"]), color="k", lw=1, label="RL^2 (training)"
        )
        for method, mean in evaluated.get(s.label, {}).items():
            ax.axhline(mean, color=COLORS[method], ls="--", lw=0.8, label=method)
        ax.set_title(s.label, fontsize=8)
        ax.set_xlabel("env steps", fontsize=7)
        ax.set_ylabel("total reward per trial", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.legend(fontsize=5)


def _plot_episodes(fig, experiment, host):
    for i, s in enumerate(experiment.settings):
        ax = fig.add_subplot(_rows(experiment), _columns(experiment), i + 1)
        for method, values in host["per_episode"][s.label].items():
            x = np.arange(1, len(values) + 1)
            ax.plot(x, values, color=COLORS[method], lw=1, label=method)
        ax.set_title(f"{s.label}: reward per episode of the trial", fontsize=8)
        ax.set_xlabel("episode", fontsize=7)
        ax.tick_params(labelsize=6)
        if host["per_episode"][s.label]:  # evaluated already
            ax.legend(fontsize=5)
