"""The host side of a comparison: learning curves, final results, the table
of mean +- 95 % CI over seeds, and the plots."""

import numpy as np

from jaxmeta.learners.base import FAILURE_NONE, FAILURE_REASONS
from jaxmeta.score.stats import format_ci, mean_ci

# Metrics brought to the host every chunk: scalars per update, and BiERL's
# per-inner-update outputs (e.g. "bierl/sigma", [seeds, updates, meta_every]).
KEPT = ("episode_return", "env_steps", "train/diverged", "es/center_return")


def kept_metrics(metrics: dict) -> dict:
    """The metrics a comparison reports (inside the step: less to move)."""
    return {
        k: v
        for k, v in metrics.items()
        if k in KEPT or (k.startswith("bierl/") and v.ndim == 3)
    }


def empty_host(experiment) -> dict:
    """Per group: curves[seed] lists of (env_steps, episode_return); bierl
    output trajectories; final results."""
    seeds = experiment.config.seeds
    return {
        "groups": {
            g.key: {
                "steps": [[] for _ in range(seeds)],
                "returns": [[] for _ in range(seeds)],
                "bierl": {},
            }
            for g in experiment.groups
        },
        "results": [],
        "seconds": {},
    }


def report(experiment, chunk, outputs, host, sink):
    """Curves rows for every group; at the end, the final evaluations."""
    seeds = experiment.config.seeds
    messages = []
    for group in experiment.groups:
        out, record = outputs[group.key], host["groups"][group.key]
        metrics = {k: np.asarray(v)[:seeds] for k, v in out["metrics"].items()}
        first = chunk * group.updates_per_chunk
        rows = {
            "env": [],
            "method": [],
            "seed": [],
            "update": [],
            "env_steps": [],
            "episode_return": [],
            "sigma": [],
        }
        sigma = metrics.get("bierl/sigma")
        for s in range(seeds):
            for u in range(group.updates_per_chunk):
                steps = int(metrics["env_steps"][s, u])
                value = float(metrics["episode_return"][s, u])
                record["steps"][s].append(steps)
                record["returns"][s].append(value)
                rows["env"].append(group.env_name)
                rows["method"].append(group.method.name)
                rows["seed"].append(s)
                rows["update"].append(first + u)
                rows["env_steps"].append(steps)
                rows["episode_return"].append(value)
                rows["sigma"].append(
                    float(np.mean(sigma[s, u])) if sigma is not None else np.nan
                )
        sink.append(
            "curves.csv",
            [dict(zip(rows, v, strict=True)) for v in zip(*rows.values(), strict=True)],
        )
        for name, value in metrics.items():
            if name.startswith("bierl/"):
                trajectory = record["bierl"].setdefault(
                    name, [[] for _ in range(seeds)]
                )
                for s in range(seeds):
                    trajectory[s].extend(np.asarray(value[s]).reshape(-1).tolist())
        if "eval_return" in out:
            for s in range(seeds):
                code = int(np.asarray(out["failure_code"])[s])
                host["results"].append(
                    {
                        "env": group.env_name,
                        "method": group.method.name,
                        "seed": s,
                        "eval_return": float(np.asarray(out["eval_return"])[s]),
                        "env_steps": record["steps"][s][-1],
                        "failed": code != FAILURE_NONE,
                        "failure": FAILURE_REASONS[code],
                    }
                )
    host["seconds"] = dict(experiment.seconds)
    if host["results"]:
        refresh(experiment, host, sink)
        messages.append("\n" + table(experiment, host["results"], host["seconds"]))
    done = f"{chunk + 1}/{experiment.num_chunks}"
    return host, {"done": done, "groups": len(experiment.groups), "messages": messages}


def table(experiment, rows, seconds=None) -> str:
    """Markdown: per env, each method's final eval return (mean +- 95 % CI
    over seeds), env steps used (mean) and wall seconds."""
    seconds = seconds or {}
    lines = []
    for env in experiment.config.envs:
        lines += [
            f"### {env} (budget {experiment.config.budget_of(env):,} env steps)",
            "",
            "| method | final return (mean ± 95% CI) | env steps used | "
            "failed | seconds |",
            "|---|---|---|---|---|",
        ]
        for group in [g for g in experiment.groups if g.env_name == env]:
            mine = [
                r for r in rows if r["env"] == env and r["method"] == group.method.name
            ]
            returns = [r["eval_return"] for r in mine if not r["failed"]]
            steps = np.mean([r["env_steps"] for r in mine]) if mine else np.nan
            failed = sum(r["failed"] for r in mine)
            lines.append(
                f"| {group.method.name} | {format_ci(returns)} (n={len(returns)}) | "
                f"{steps:,.0f} | {failed} | "
                f"{seconds.get(group.key, float('nan')):.0f} |"
            )
        lines.append("")
    return "\n".join(lines)


def refresh(experiment, host, sink) -> None:
    """results.csv, table.md and the plots."""
    if host["results"]:
        sink.write_csv("results.csv", host["results"])
        sink.write_text("table.md", table(experiment, host["results"], host["seconds"]))
    for env in experiment.config.envs:
        groups = [g for g in experiment.groups if g.env_name == env]
        if groups and host["groups"][groups[0].key]["steps"][0]:
            sink.figure(
                f"curves_{env}.png",
                lambda fig, gs=groups, e=env: _plot_curves(fig, gs, host, e),
            )
    with_sigma = [
        g for g in experiment.groups if "bierl/sigma" in host["groups"][g.key]["bierl"]
    ]
    if with_sigma:
        sink.figure("bierl_sigma.png", lambda fig: _plot_sigma(fig, with_sigma, host))


def _band(curves_x, curves_y, grid):
    """Each seed's curve on `grid` (last finite return carried forward)."""
    values = []
    for xs, ys in zip(curves_x, curves_y, strict=True):
        xs, ys = np.asarray(xs, float), np.asarray(ys, float)
        keep = np.isfinite(ys)
        if keep.sum() < 2:
            continue
        values.append(np.interp(grid, xs[keep], ys[keep], left=np.nan))
    return np.asarray(values)


def _plot_curves(fig, groups, host, env):
    ax = fig.add_subplot()
    for i, group in enumerate(groups):
        record = host["groups"][group.key]
        top = max(max(s) for s in record["steps"] if s)
        grid = np.linspace(0, top, 60)
        values = _band(record["steps"], record["returns"], grid)
        if not values.size:
            continue
        stats = [mean_ci(values[:, j]) for j in range(grid.size)]
        mean = np.array([m for m, _, _ in stats])
        half = np.nan_to_num(np.array([h for _, h, _ in stats]))
        ax.plot(grid, mean, color=f"C{i % 10}", label=group.method.name)
        ax.fill_between(grid, mean - half, mean + half, color=f"C{i % 10}", alpha=0.15)
    ax.set_title(f"{env}: training return, mean ± 95% CI over seeds")
    ax.set_xlabel("env steps")
    ax.set_ylabel("episode return")
    ax.legend(fontsize=7, loc="lower right")


def _plot_sigma(fig, groups, host):
    ax = fig.add_subplot()
    for i, group in enumerate(groups):
        values = np.asarray(host["groups"][group.key]["bierl"]["bierl/sigma"], float)
        mean = values.mean(axis=0)
        ax.plot(np.arange(mean.size), mean, color=f"C{i % 10}", label=group.key)
        ax.fill_between(
            np.arange(mean.size),
            values.min(0),
            values.max(0),
            color=f"C{i % 10}",
            alpha=0.15,
        )
    ax.set_title("sigma chosen by BiERL per ES generation (mean, min-max over seeds)")
    ax.set_xlabel("ES generation")
    ax.set_ylabel("sigma")
    ax.legend(fontsize=7)
