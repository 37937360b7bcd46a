"""The host side of the option-critic transfer experiment
(`run.option_critic`): steps per episode per method (mean and Student-t
95 % CI over trials, per episode and over windows before and after the
goal moves), the table, the curves and the termination maps.

The windows: the first 100 episodes (learning from scratch), the 100
before the move, the first 10 and 100 after it (the recovery the paper's
Figure 2 is about) and the last 100. A trial that has not finished an
episode of a window leaves it out (the table gives the count). The
termination maps show beta_w(s) of trial 0's options (one panel each, as
the paper's Figure 3) and, over all trials and options, the mean at the
four hallway cells against the other cells.
"""

import numpy as np

from jaxmeta.envs.four_rooms import CELL_INDEX, CELLS, hallway_cells
from jaxmeta.learners.base import FAILURE_NONE
from jaxmeta.run.options_report import _curve, _smooth
from jaxmeta.score.stats import format_ci, mean_ci


def windows(config) -> dict:
    """name -> (first, last) episode, 1-based inclusive."""
    s, e = config.switch_after, config.episodes
    out = {
        "first 100": (1, min(100, s)),
        "100 before move": (max(1, s - 99), s),
        "10 after move": (s + 1, min(s + 10, e)),
        "100 after move": (s + 1, min(s + 100, e)),
        "last 100": (max(s + 1, e - 99), e),
    }
    return out


def empty_host(experiment) -> dict:
    return {"stats": {}, "seconds": {}, "results": [], "beta": {}}


def _lengths(config, out) -> np.ndarray:
    """[trials, episodes] float, NaN where none was recorded."""
    recorded = np.minimum(np.asarray(out["count"]), config.episodes)
    mask = np.arange(config.episodes)[None, :] < recorded[:, None]
    return np.where(mask, np.asarray(out["length"], float), np.nan)


def _window_means(config, lengths) -> dict:
    """name -> [trials] mean steps over the window (NaN if incomplete)."""
    out = {}
    for name, (a, b) in windows(config).items():
        part = lengths[:, a - 1 : b]
        complete = np.isfinite(part).all(axis=1)
        out[name] = np.where(complete, np.nan_to_num(part).mean(axis=1), np.nan)
    return out


def report(experiment, chunk, outputs, host, sink):
    """Progress rows per method; at the end the per-trial rows, the table
    and the plots."""
    config = experiment.config
    last = chunk + 1 == experiment.num_chunks
    steps_done = (chunk + 1) * config.env_steps // config.chunks
    progress, results, messages = [], [], []
    for name, out in outputs.items():
        lengths = _lengths(config, out)
        means = _window_means(config, lengths)
        failed = np.asarray(out["failure"]) != FAILURE_NONE
        recorded = np.minimum(np.asarray(out["count"]), config.episodes)
        mean, half, n = _curve(lengths)
        host["stats"][name] = {
            "windows": {k: v.tolist() for k, v in means.items()},
            "recorded": recorded.tolist(),
            "curve": {"mean": mean, "half": half, "n": n},
        }
        if "beta" in out:
            host["beta"][name] = np.asarray(out["beta"], float).tolist()
        seconds = experiment.seconds.get(name, {}).get(chunk)
        if seconds is not None:
            host["seconds"].setdefault(name, {})[str(chunk)] = seconds
        progress.append(
            {"method": name, "chunk": chunk, "env_steps": steps_done,
             "episodes_min": int(recorded.min()),
             "episodes_mean": float(recorded.mean())}
        )  # fmt: skip
        goals = experiment.new_goals
        results.extend(
            {"method": name, "trial": i,
             "new_goal": f"{CELLS[goals[i]][0]},{CELLS[goals[i]][1]}",
             "episodes": int(recorded[i]), "failed": bool(failed[i]),
             **{f"steps {k}": float(v[i]) for k, v in means.items()}}
            for i in range(config.trials)
        )  # fmt: skip
        if failed.any():
            messages.append(f"{name}: {int(failed.sum())} agents failed")
    sink.append("progress.csv", progress)
    experiment.host = host
    if last:
        host["results"] = results
        refresh(experiment, host, sink)
        messages.append("\n" + table(experiment, host))
    done = f"{chunk + 1}/{experiment.num_chunks}"
    return host, {"done": done, "messages": messages}


def wall_seconds(host, name) -> float:
    """A method's wall seconds, its first (compiling) chunk counted as the
    median of the others."""
    chunks = host["seconds"].get(name, {})
    times = [chunks[c] for c in sorted(chunks, key=int)]
    if len(times) < 2:
        return float(sum(times)) if times else float("nan")
    return float(np.sum(times[1:]) + np.median(times[1:]))


def hallway_contrast(beta) -> tuple:
    """Mean beta at the hallway cells and at the other cells, per trial
    (over options): two [trials] arrays. beta: [trials, S, O]."""
    beta = np.asarray(beta, float)
    at = np.zeros(beta.shape[1], bool)
    at[hallway_cells] = True
    return beta[:, at].mean(axis=(1, 2)), beta[:, ~at].mean(axis=(1, 2))


def table(experiment, host) -> str:
    """Markdown: steps per episode per method and window, and the
    termination contrast of every option-critic method."""
    config = experiment.config
    if host is None or not host["stats"]:
        return "(no results yet)"
    names = list(windows(config))
    lines = [
        f"Steps per episode, mean ± 95% CI over {config.trials} trials (n = "
        f"trials with the whole window). The goal moves from (7, 9) to a "
        f"random lower-right-room cell after episode {config.switch_after}; "
        f"optimal (value iteration) {experiment.optimal['before']:.1f} steps "
        f"before, {experiment.optimal['after']:.1f} after (mean over trials).",
        "",
        "| method | "
        + " | ".join(f"episodes {n}" for n in names)
        + " | episodes (min) | wall s |",
        "|---|" + "---|" * (len(names) + 2),
    ]
    for name, stats in host["stats"].items():
        cells = []
        for window in names:
            values = np.asarray(stats["windows"][window], float)
            values = values[np.isfinite(values)]
            cells.append(f"{format_ci(values)} (n={values.size})")
        lines.append(
            f"| {name} | " + " | ".join(cells)
            + f" | {min(stats['recorded'])} | {wall_seconds(host, name):.1f} |"
        )  # fmt: skip
    for name, beta in host["beta"].items():
        at, off = hallway_contrast(beta)
        m_at, h_at, _ = mean_ci(at)
        m_off, h_off, _ = mean_ci(off)
        lines += [
            "",
            f"{name}: mean termination probability at the 4 hallway cells "
            f"{m_at:.3f} ± {h_at:.3f}, elsewhere {m_off:.3f} ± {h_off:.3f} "
            f"(mean over options, 95% CI over trials; higher at the hallways "
            f"in {int(np.sum(at > off))}/{at.size} trials).",
        ]
    return "\n".join(lines)


def refresh(experiment, host, sink) -> None:
    """results.csv, curves.csv, table.md, curves.png, terminations.png."""
    if not host["stats"]:
        return
    config = experiment.config
    if host["results"]:
        sink.write_csv("results.csv", host["results"])
    rows = [
        {"method": name, "episode": k + 1,
         "steps_mean": stats["curve"]["mean"][k],
         "steps_ci95": stats["curve"]["half"][k], "trials": stats["curve"]["n"][k]}
        for name, stats in host["stats"].items()
        for k in range(config.episodes)
    ]  # fmt: skip
    sink.write_csv("curves.csv", rows)
    sink.write_text("table.md", table(experiment, host) + "\n")
    sink.figure("curves.png", lambda fig: _plot(fig, experiment, host), size=(8, 5))
    for name, beta in host["beta"].items():
        options = np.asarray(beta).shape[-1]
        if options > 1:
            sink.figure(
                "terminations.png",
                lambda fig, b=beta, n=name: _maps(fig, np.asarray(b), n),
                size=(3.0 * (options + 1), 3.4),
            )
            break


def _plot(fig, experiment, host):
    config = experiment.config
    ax = fig.add_subplot()
    for i, (name, stats) in enumerate(host["stats"].items()):
        mean = _smooth(np.asarray(stats["curve"]["mean"], float), config.window)
        half = np.nan_to_num(np.asarray(stats["curve"]["half"], float))
        half = _smooth(half, config.window)
        episodes = np.arange(1, mean.size + 1)
        color = f"C{i % 10}"
        ax.plot(episodes, mean, color=color, label=name, linewidth=1)
        ax.fill_between(episodes, mean - half, mean + half, color=color, alpha=0.15)
    ax.axvline(config.switch_after, color="k", linestyle=":", linewidth=1)
    s = config.switch_after
    for (a, b), key in (((1, s), "before"), ((s + 1, config.episodes), "after")):
        ax.hlines(experiment.optimal[key], a, b, colors="k", linestyles="--", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("episode")
    ax.set_ylabel("steps per episode")
    ax.set_title(
        f"Four Rooms transfer: mean ± 95% CI over {config.trials} trials "
        f"(running mean over {config.window} episodes); dashed: optimal",
        fontsize=9,
    )
    ax.legend(fontsize=8)


def _maps(fig, beta, name):
    """Trial 0's beta_w(s) per option on the grid, and the mean over every
    trial and option; walls black."""
    import matplotlib

    options = beta.shape[-1]
    panels = [beta[0, :, w] for w in range(options)] + [beta.mean(axis=(0, 2))]
    titles = [f"trial 0, option {w}" for w in range(options)] + ["mean, all trials"]
    axes = fig.subplots(
        1, len(panels) + 1, gridspec_kw={"width_ratios": [1] * len(panels) + [0.08]}
    )
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="black")
    for ax, values, title in zip(axes[:-1], panels, titles, strict=True):
        grid = np.full(CELL_INDEX.shape, np.nan)
        grid[CELLS[:, 0], CELLS[:, 1]] = values
        image = ax.imshow(grid, vmin=0.0, vmax=1.0, cmap=cmap)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(image, cax=axes[-1])
    fig.suptitle(f"{name}: termination probability beta(s)", fontsize=10)
