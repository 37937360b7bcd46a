"""The host side of the MAML experiment (`run.maml`): meta-training curves
(curves.csv: per setting, method, seed and meta-iteration, the return
before and after adaptation on that iteration's meta-batch), held-out
adaptation (adaptation.csv: per setting, method, seed and inner step k, the
mean return over the held-out tasks after k steps), results.csv (mean ± 95 %
CI over seeds per step), convergence.csv, table.md and maml.png (the MAML
paper's Figure 5: return against the number of gradient steps)."""

import numpy as np

from jaxmeta.score.stats import format_ci, mean_ci


def empty_host(experiment) -> dict:
    """Per setting and method: curves per meta-iteration (lists over seeds),
    wall seconds per training chunk, divergence flags, held-out returns."""
    host = {"curves": {}, "seconds": {}, "diverged": {}, "adaptation": {}}
    for setting in experiment.settings:
        methods = [m for m in setting.adapters if m != "random"]
        host["curves"][setting.label] = {m: {"post": [], "pre": []} for m in methods}
        host["seconds"][setting.label] = {m: [] for m in methods}
        host["diverged"][setting.label] = {m: [] for m in methods}
        host["adaptation"][setting.label] = {}
    return host


def report(experiment, chunk, outputs, host, sink):
    """A training chunk's curves rows, or an evaluation chunk's adaptation
    rows; the table when the last chunk lands. Wall seconds per method
    include its first chunk's compilation (all seeds run together)."""
    scalars = {}
    for label, methods in outputs.items():
        if chunk < experiment.config.chunks:
            _training(experiment, label, methods, host, sink, scalars)
        else:
            _adaptation(label, methods, host, sink, scalars)
    sink.scalars(chunk, scalars)
    postfix = {"done": f"{chunk + 1}/{experiment.num_chunks}"}
    if chunk + 1 == experiment.num_chunks:
        refresh(experiment, host, sink)
        text = table(experiment, result_rows(experiment, host))
        postfix["messages"] = ["\n" + text + "\n" + convergence_table(experiment, host)]
    return host, postfix


def _training(experiment, label, methods, host, sink, scalars):
    rows = []
    for method, out in methods.items():
        record = host["curves"][label][method]
        post = np.asarray(out["post_return"], float)  # [seeds, iterations]
        pre = np.asarray(out["pre_return"], float)
        start = len(record["post"])
        record["post"] += post.T.tolist()
        record["pre"] += pre.T.tolist()
        host["seconds"][label][method].append(float(out["seconds"]))
        host["diverged"][label][method] = np.asarray(out["diverged"]).tolist()
        for seed in range(post.shape[0]):
            for t in range(post.shape[1]):
                rows.append({"setting": label, "method": method, "seed": seed,
                             "iteration": start + t + 1,
                             "post_return": post[seed, t],
                             "pre_return": pre[seed, t]})  # fmt: skip
        scalars[f"{label}/{method}/post_return"] = float(np.nanmean(post[:, -1]))
        scalars[f"{label}/{method}/pre_return"] = float(np.nanmean(pre[:, -1]))
    sink.append("curves.csv", rows)


def _adaptation(label, methods, host, sink, scalars):
    rows = []
    for method, out in methods.items():
        returns = np.asarray(out["returns"], float).mean(axis=1)  # [seeds, K + 1]
        host["adaptation"][label][method] = returns.tolist()
        for seed, curve in enumerate(returns):
            for k, value in enumerate(curve):
                rows.append({"setting": label, "method": method, "seed": seed,
                             "adapt_step": k, "return": value})  # fmt: skip
        scalars[f"{label}/{method}/return_after_{returns.shape[1] - 1}"] = float(
            returns[:, -1].mean()
        )
    sink.append("adaptation.csv", rows)


def result_rows(experiment, host) -> list[dict]:
    """Per (setting, method, adaptation step k): the held-out return's
    mean, 95 % CI half width and number of seeds."""
    rows = []
    for label, methods in host["adaptation"].items():
        for method, returns in methods.items():
            returns = np.asarray(returns, float)  # [seeds, K + 1]
            for k in range(returns.shape[1]):
                mean, half, n = mean_ci(returns[:, k])
                rows.append({"setting": label, "method": method, "adapt_step": k,
                             "return_mean": mean, "return_ci95": half,
                             "seeds": n})  # fmt: skip
    return rows


def _converged_at(curve: np.ndarray, window: int, fraction: float):
    """Meta-iterations (1-based) until the trailing running mean of `curve`
    [iterations] covers `fraction` of the way from its first full window
    to its last; None when the last window is not above the first."""
    if curve.size < window:
        return None
    running = np.convolve(curve, np.ones(window) / window, mode="valid")
    first, final = running[0], running[-1]
    if not final > first:
        return None
    hit = np.flatnonzero(running >= first + fraction * (final - first))
    return int(hit[0]) + window


def convergence_rows(experiment, host) -> list[dict]:
    """Per (setting, method): meta-iterations and wall seconds to converge
    (mean ± CI over the seeds that rose), the final post-adaptation return
    (last window, on the training meta-batches) and seconds per iteration
    (chunks after the first; all seeds together)."""
    c = experiment.config
    rows = []
    for setting in experiment.settings:
        label, per_chunk = setting.label, experiment.iterations_per_chunk(setting)
        for method, record in host["curves"][label].items():
            post = np.asarray(record["post"], float)  # [iterations, seeds]
            if post.size == 0:
                continue
            seconds = host["seconds"][label][method]
            steady = seconds[1:] or seconds
            per_iteration = float(np.sum(steady)) / (len(steady) * per_chunk)
            hits = [_converged_at(post[:, i], c.convergence_window,
                                  c.convergence_fraction)
                    for i in range(post.shape[1])]  # fmt: skip
            rose = np.array([h for h in hits if h is not None], float)
            final = post[-c.convergence_window :].mean(axis=0)
            rows.append({
                "setting": label, "method": method,
                "seeds_rose": f"{rose.size}/{len(hits)}",
                "iterations_to_converge": format_ci(rose, digits=1),
                "wall_s_to_converge": format_ci(rose * per_iteration, digits=2),
                "final_post_return": format_ci(final, digits=2),
                "s_per_iteration": per_iteration,
                "wall_s_total": float(np.sum(seconds)),
                "diverged_seeds": int(np.sum(host["diverged"][label][method])),
            })  # fmt: skip
    return rows


def table(experiment, rows) -> str:
    """Markdown: per setting, held-out return after 0..K steps (mean ± 95 %
    CI over seeds) per method; then convergence per method."""
    c = experiment.config
    lines = []
    for setting in experiment.settings:
        spec = setting.spec
        mine = [r for r in rows if r["setting"] == setting.label]
        if not mine:
            continue
        steps = sorted({r["adapt_step"] for r in mine})
        lines += [
            f"### {setting.label}: {spec['env']}, {spec['meta_iterations']} "
            f"meta-iterations, {c.seeds} seeds, {spec['eval_tasks']} held-out tasks",
            "",
            "| method | " + " | ".join(f"{k} steps" for k in steps) + " |",
            "|---|" + "---|" * len(steps),
        ]
        for method in spec["methods"]:
            cells = [
                f"{r['return_mean']:.2f} ± {r['return_ci95']:.2f}"
                for r in mine if r["method"] == method
            ]  # fmt: skip
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


def convergence_table(experiment, host) -> str:
    """Markdown of `convergence_rows`."""
    c = experiment.config
    head = (
        "| setting | method | seeds rose | meta-iterations to converge | "
        "wall s to converge | final post-adaptation return | s / iteration |"
    )
    lines = [
        f"Convergence: first meta-iteration whose running mean over "
        f"{c.convergence_window} iterations of the post-adaptation return covers "
        f"{c.convergence_fraction:.0%} of the way from its first to its last "
        f"window (mean ± 95 % CI over the seeds that rose)",
        "", head, "|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for r in convergence_rows(experiment, host):
        lines.append(
            f"| {r['setting']} | {r['method']} | {r['seeds_rose']} | "
            f"{r['iterations_to_converge']} | {r['wall_s_to_converge']} | "
            f"{r['final_post_return']} | {r['s_per_iteration']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def refresh(experiment, host, sink) -> None:
    """results.csv, convergence.csv, table.md, maml.png."""
    conv = convergence_rows(experiment, host)
    if conv:
        sink.write_csv("convergence.csv", conv)
    rows = result_rows(experiment, host)
    text = table(experiment, rows) if rows else ""
    if conv:
        text += "\n" + convergence_table(experiment, host)
    if rows:
        sink.write_csv("results.csv", rows)
    if text:
        sink.write_text("table.md", text)
        size = (4 * len(experiment.settings), 7)
        sink.figure("maml.png", lambda fig: _plot(fig, experiment, host), size)


def _plot(fig, experiment, host):
    count = len(experiment.settings)
    for j, setting in enumerate(experiment.settings):
        label = setting.label
        ax = fig.add_subplot(2, count, j + 1)
        for i, method in enumerate(setting.spec["methods"]):
            returns = host["adaptation"][label].get(method)
            if returns is None:
                continue
            returns = np.asarray(returns, float)
            stats = [mean_ci(returns[:, k]) for k in range(returns.shape[1])]
            mean = np.array([s[0] for s in stats])
            half = np.nan_to_num(np.array([s[1] for s in stats]))
            steps = np.arange(returns.shape[1])
            ax.errorbar(steps, mean, yerr=half, color=f"C{i}", marker="o",
                        ms=3, capsize=2, label=method)  # fmt: skip
        ax.set_xlabel("number of gradient steps")
        ax.set_title(f"{label}: held-out tasks", fontsize=8)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6)
        curves = fig.add_subplot(2, count, count + j + 1)
        for i, method in enumerate(setting.spec["methods"]):
            record = host["curves"][label].get(method)
            if not record or not record["post"]:
                continue
            post = np.asarray(record["post"], float)  # [iterations, seeds]
            x = np.arange(1, post.shape[0] + 1)
            mean = post.mean(axis=1)
            half = 1.96 * post.std(axis=1) / np.sqrt(post.shape[1])
            curves.plot(x, mean, color=f"C{i}", label=method)
            curves.fill_between(x, mean - half, mean + half, color=f"C{i}", alpha=0.2)
        curves.set_xlabel("meta-iteration")
        curves.set_title(f"{label}: post-adaptation return (meta-batch)", fontsize=8)
        if j == 0:
            ax.set_ylabel("average return (95% CI over seeds)")
            curves.set_ylabel("return")
