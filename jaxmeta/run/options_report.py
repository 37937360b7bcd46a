"""The host side of the Four Rooms options experiment: each agent's episodes
to within `tolerance` of the optimal steps, the best learning rate per
method, the speed-ups over the baseline, the table, curves and plots.

An agent reaches the target at the first episode k at which the mean over
its last `window` episodes of (steps - T*(start)) is at most `tolerance x`
the mean optimal steps, T*(s) being the exact optimal expected steps from
start cell s (value iteration). Subtracting each episode's own optimum
removes the variance of the uniform start from the running mean; its
expectation is that of comparing the mean steps with the mean optimum. An
agent that never reaches it counts as `episodes + 1` (censored: the means
and ratios involving it are bounds).
"""

import warnings

import numpy as np

from jaxmeta.learners.base import FAILURE_NONE
from jaxmeta.score.stats import format_ci

BOOTSTRAP = 2000  # resamples of the speed-up's confidence interval


def empty_host(experiment) -> dict:
    """Per group: the agents' statistics (per learning rate) and chunk wall
    seconds; the final per-agent rows."""
    return {"stats": {}, "seconds": {}, "results": []}


def optimum(experiment, goal, options="primitive") -> np.ndarray:
    """T* per start cell [S] of `goal` with `options`."""
    return experiment.optimal[goal][options]


def mean_optimum(experiment, goal, options="primitive") -> float:
    steps = optimum(experiment, goal, options)
    return float(steps[steps > 0].mean())  # uniform over the non-goal cells


def agent_stats(experiment, group, out) -> dict:
    """Per agent [M]: episodes recorded, episodes to target, mean steps of
    the first 10 and the last `window` recorded episodes; `lengths` [M, E]
    (NaN where none was recorded)."""
    config = experiment.config
    size, window = config.episodes, config.window
    recorded = np.minimum(np.asarray(out["count"]), size)
    mask = np.arange(size)[None, :] < recorded[:, None]
    lengths = np.where(mask, np.asarray(out["length"], float), np.nan)
    steps = optimum(experiment, group.goal)
    excess = np.where(mask, lengths - steps[np.asarray(out["start"])], 0.0)
    sums = np.concatenate(
        [np.zeros((excess.shape[0], 1)), np.cumsum(excess, axis=1)], axis=1
    )
    window_mean = (sums[:, window:] - sums[:, :-window]) / window  # ends at W..E
    valid = np.arange(window, size + 1)[None, :] <= recorded[:, None]
    target = config.tolerance * mean_optimum(experiment, group.goal)
    hit = valid & (window_mean <= target)
    to_target = np.where(hit.any(axis=1), np.argmax(hit, axis=1) + window, size + 1)
    ends = recorded[:, None] - np.arange(window)[None, ::-1] - 1
    last = np.take_along_axis(lengths, np.clip(ends, 0, size - 1), axis=1)
    final = np.where(recorded >= window, last.mean(axis=1), np.nan)
    with warnings.catch_warnings():  # agents with no episode yet: NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        first = np.nanmean(lengths[:, :10], axis=1)
    return {
        "recorded": recorded,
        "to_target": to_target,
        "first": first,
        "final": final,
        "lengths": lengths,
    }


def _curve(lengths):
    """`[mean, half, n]` per episode over agents (`lengths` [M, E], NaN:
    none): mean, Student-t 95 % half width (NaN below 2 agents), count."""
    from scipy import stats

    n = np.isfinite(lengths).sum(axis=0)
    with warnings.catch_warnings():  # episodes no agent reached: NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(lengths, axis=0)
        std = np.nanstd(lengths, axis=0, ddof=1)
        half = stats.t.ppf(0.975, np.maximum(n - 1, 1)) * std / np.sqrt(n)
    half = np.where(n >= 2, half, np.nan)
    return [mean.tolist(), half.tolist(), n.tolist()]


def report(experiment, chunk, outputs, host, sink):
    """Progress rows for every group and rate; at the end, per-agent rows,
    the table and the plots."""
    config = experiment.config
    trials, last = config.trials, chunk + 1 == experiment.num_chunks
    steps_done = (chunk + 1) * config.env_steps // config.chunks
    progress, results, messages, scalars = [], [], [], {}
    for group in experiment.groups:
        out = outputs[group.key]
        stats = agent_stats(experiment, group, out)
        failed = np.asarray(out["failure"]) != FAILURE_NONE
        per_rate = {}
        for j, rate in enumerate(config.learning_rates):
            part = slice(j * trials, (j + 1) * trials)
            mine = {k: v[part] for k, v in stats.items()}
            reached = mine["to_target"] <= config.episodes
            mean, half, count = _curve(mine["lengths"])
            per_rate[str(rate)] = {
                "to_target": mine["to_target"].tolist(),
                "first": mine["first"].tolist(),
                "final": mine["final"].tolist(),
                "curve": {"mean": mean, "half": half, "n": count},
            }
            where = {
                "goal": f"{group.goal[0]},{group.goal[1]}",
                "method": group.method["name"],
                "learning_rate": rate,
            }
            ett = float(np.mean(mine["to_target"]))
            progress.append(
                {**where, "chunk": chunk, "env_steps": steps_done,
                 "episodes": float(np.mean(mine["recorded"])),
                 "reached": int(reached.sum()), "episodes_to_target": ett}
            )  # fmt: skip
            scalars[f"{group.key}/lr{rate}/episodes_to_target"] = ett
            results.extend(
                {**where, "trial": i, "episodes": int(mine["recorded"][i]),
                 "episodes_to_target": int(mine["to_target"][i]),
                 "reached": bool(reached[i]),
                 "first10_steps": float(mine["first"][i]),
                 "final_steps": float(mine["final"][i]),
                 "failed": bool(failed[part][i])}
                for i in range(trials)
            )  # fmt: skip
        host["stats"][group.key] = per_rate
        seconds = experiment.seconds.get(group.key, {}).get(chunk)
        if seconds is not None:
            host["seconds"].setdefault(group.key, {})[str(chunk)] = seconds
        if failed.any():
            messages.append(f"{group.key}: {int(failed.sum())} agents failed")
    sink.append("progress.csv", progress)
    sink.scalars(chunk, scalars)
    experiment.host = host
    if last:
        host["results"] = results
        refresh(experiment, host, sink)
        messages.append("\n" + table(experiment, host))
    done = f"{chunk + 1}/{experiment.num_chunks}"
    return host, {"done": done, "groups": len(experiment.groups), "messages": messages}


def best_rate(config, per_rate) -> str:
    """The rate with the fewest mean episodes to target (then the fewest
    final steps)."""

    def score(rate):
        final = np.asarray(per_rate[rate]["final"], float)
        final_mean = np.nanmean(final) if np.isfinite(final).any() else np.inf
        return (np.mean(per_rate[rate]["to_target"]), final_mean)

    return min((str(r) for r in config.learning_rates), key=score)


def speedup(base, other, seed: int = 0):
    """Ratio of mean episodes to target, base / other, and its bootstrap
    95 % interval (trials resampled independently)."""
    base, other = np.asarray(base, float), np.asarray(other, float)
    rng = np.random.default_rng(seed)
    draws = [
        rng.choice(base, base.size).mean() / rng.choice(other, other.size).mean()
        for _ in range(BOOTSTRAP)
    ]
    low, high = np.percentile(draws, [2.5, 97.5])
    return base.mean() / other.mean(), low, high


def wall_seconds(host, key) -> float:
    """A group's wall seconds without compilation: the first chunk (which
    compiles) is counted as the median of the others."""
    chunks = host["seconds"].get(key, {})
    times = [chunks[c] for c in sorted(chunks, key=int)]
    if len(times) < 2:
        return float(sum(times)) if times else float("nan")
    return float(np.sum(times[1:]) + np.median(times[1:]))


def table(experiment, host) -> str:
    """Markdown, one table per goal: each method at its best learning rate."""
    config = experiment.config
    if host is None or not host["stats"]:
        return "(no results yet)"
    lines = []
    for goal in config.goals:
        groups = [g for g in experiment.groups if g.goal == goal]
        best = {g.key: best_rate(config, host["stats"][g.key]) for g in groups}
        base = next(g for g in groups if g.method["name"] == config.baseline)
        base_ett = host["stats"][base.key][best[base.key]]["to_target"]
        lines += [
            f"### Goal {goal}: optimal {mean_optimum(experiment, goal):.2f} steps "
            f"(value iteration, mean over uniform starts)",
            "",
            f"{config.trials} trials per method and learning rate; target: the "
            f"mean over {config.window} episodes within "
            f"{config.tolerance:.0%} of optimal; censored at "
            f"{config.episodes + 1}.",
            "",
            "| method | best α | episodes to target (mean ± 95% CI) | reached | "
            f"speed-up vs {config.baseline} [95% CI] | steps, first 10 episodes | "
            f"steps, last {config.window} | optimum with its options | wall s |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for group in groups:
            stats = host["stats"][group.key][best[group.key]]
            ett = stats["to_target"]
            ratio, low, high = speedup(base_ett, ett)
            reached = sum(e <= config.episodes for e in ett)
            options = group.method.get("options", "primitive")
            lines.append(
                f"| {group.method['name']} | {best[group.key]} | "
                f"{format_ci(ett)} | {reached}/{len(ett)} | "
                f"{ratio:.2f} [{low:.2f}, {high:.2f}] | "
                f"{format_ci(stats['first'])} | {format_ci(stats['final'])} | "
                f"{mean_optimum(experiment, goal, options):.2f} | "
                f"{wall_seconds(host, group.key):.1f} |"
            )
        lines.append("")
    agents = experiment.members
    total = sum(wall_seconds(host, g.key) for g in experiment.groups)
    lines.append(
        f"Wall time, compilation excluded: {total:.1f} s for all "
        f"{len(experiment.groups)} groups of {agents} vmapped agents "
        f"({config.env_steps:,} env steps each)."
    )
    return "\n".join(lines)


def refresh(experiment, host, sink) -> None:
    """results.csv, curves.csv, optimal.json, table.md and the plots."""
    if not host["stats"]:
        return
    config = experiment.config
    if host["results"]:
        sink.write_csv("results.csv", host["results"])
    rows = []
    for group in experiment.groups:
        for rate, stats in host["stats"][group.key].items():
            curve = stats["curve"]
            for k in range(config.episodes):
                rows.append(
                    {
                        "goal": f"{group.goal[0]},{group.goal[1]}",
                        "method": group.method["name"],
                        "learning_rate": float(rate),
                        "episode": k + 1,
                        "steps_mean": curve["mean"][k],
                        "steps_ci95": curve["half"][k],
                        "trials": curve["n"][k],
                    }
                )
    sink.write_csv("curves.csv", rows)
    sink.write_json(
        "optimal.json",
        {
            f"{g[0]},{g[1]}": {
                name: {"mean": mean_optimum(experiment, g, name), "per_cell": v}
                for name, v in experiment.optimal[g].items()
            }
            for g in config.goals
        },
    )
    sink.write_text("table.md", table(experiment, host) + "\n")
    for goal in config.goals:
        sink.figure(
            f"curves_{goal[0]}_{goal[1]}.png",
            lambda fig, goal=goal: _plot(fig, experiment, host, goal),
            size=(8, 5),
        )


def _plot(fig, experiment, host, goal):
    config = experiment.config
    ax = fig.add_subplot()
    groups = [g for g in experiment.groups if g.goal == goal]
    for i, group in enumerate(groups):
        rate = best_rate(config, host["stats"][group.key])
        curve = host["stats"][group.key][rate]["curve"]
        mean = _smooth(np.asarray(curve["mean"], float), config.window)
        half = _smooth(np.nan_to_num(np.asarray(curve["half"], float)), config.window)
        episodes = np.arange(1, mean.size + 1)
        color = f"C{i % 10}"
        label = f"{group.method['name']} (α={rate})"
        ax.plot(episodes, mean, color=color, label=label, linewidth=1)
        ax.fill_between(episodes, mean - half, mean + half, color=color, alpha=0.15)
    optimal = mean_optimum(experiment, goal)
    ax.axhline(optimal, color="k", linestyle="--", linewidth=1, label="optimal (VI)")
    ax.axhline(optimal * (1 + config.tolerance), color="k", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("episode")
    ax.set_ylabel("steps per episode")
    ax.set_title(
        f"Four Rooms, goal {goal}: mean ± 95% CI over {config.trials} trials\n"
        f"(trailing running mean over {config.window} episodes)",
        fontsize=10,
    )
    ax.legend(fontsize=7)


def _smooth(values, window: int):
    """Trailing running mean over `window` entries (fewer at the start;
    NaN entries skipped)."""
    finite = np.isfinite(values)
    sums = np.cumsum(np.where(finite, values, 0.0))
    counts = np.cumsum(finite)
    sums = np.concatenate([[0.0], sums])
    counts = np.concatenate([[0], counts])
    ends = np.arange(1, values.size + 1)
    begins = np.maximum(ends - window, 0)
    n = counts[ends] - counts[begins]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (sums[ends] - sums[begins]) / n, np.nan)
