"""The host side of the trust-region experiment: the meta-dataset file, the
FQI selection, curves (mean +- 90 % CI over runs, as the seed plots), the
table of J at the last update and the figure of each env."""

import numpy as np

from jaxmeta.control import meta_dataset
from jaxmeta.run.results import to_jsonable
from jaxmeta.score.stats import mean_ci

LEVEL = 0.90  # the seed's figures: mean +- 90 % c.i. over 30 runs
METHODS = ("meta", "best-fixed", "random")


def _method_curves(evaluation: dict, grid) -> dict:
    """method -> {"J": [R, T + 1], "kl": [R, T]}, every fixed KL included."""
    out = {
        "meta": {k: np.asarray(evaluation["meta"][k])[0] for k in ("J", "kl")},
        "random": {k: np.asarray(evaluation["random"][k])[0] for k in ("J", "kl")},
    }
    for g, value in enumerate(grid):
        out[f"fixed-{value:g}"] = {
            k: np.asarray(evaluation["fixed"][k])[g] for k in ("J", "kl")
        }
    for method, curve in evaluation.get("beyond", {}).items():
        out[method] = {k: np.asarray(curve[k])[0] for k in ("J", "kl")}
    return out


def _best_fixed(curves: dict, prefix: str = "fixed-") -> str | None:
    """The fixed KL (or `prefix` method) with the highest mean J over the
    updates (the area under its curve; at the last update alone, runs that
    all reach an env's cap tie, and the slowest learner may win)."""
    fixed = [m for m in curves if m.startswith(prefix)]
    if not fixed:
        return None
    areas = [np.nanmean(curves[m]["J"][:, 1:]) for m in fixed]
    return fixed[int(np.nanargmax(areas))]


def report(experiment, chunk, outputs, host, sink):
    """Record env `chunk`'s results, write its dataset, refresh the files."""
    setup = experiment.setups[chunk]
    spec = setup.spec
    label = spec["label"]
    runs = meta_dataset.MetaRuns(**outputs["dataset"])
    if sink.primary:
        meta_dataset.save(sink.path(f"dataset_{label}.npz"), runs)
    archs = {}
    for arch, evaluation in outputs["evaluation"].items():
        curves = _method_curves(evaluation, spec["fixed_kl"])
        archs[arch] = {
            "trained": bool(evaluation["trained"]),
            "best_fixed": _best_fixed(curves),
            "best_ppo_fixed": _best_fixed(curves, "ppo-fixed-"),
            "env_steps_ratio": {
                m: float(c["env_steps_ratio"])
                for m, c in evaluation.get("beyond", {}).items()
            },
            "J": {m: c["J"].tolist() for m, c in curves.items()},
            "kl": {m: c["kl"].tolist() for m, c in curves.items()},
        }
    names = list(setup.learners)
    training = {}
    for index, arch in enumerate(setup.trained):
        mine = (runs.arch == index) & ~runs.failed
        training[arch] = {
            "J": runs.returns[mine].tolist(),
            "kl": runs.action[mine].tolist(),
        }
    host["envs"][label] = to_jsonable(
        {
            "env": spec["env"],
            "archs_order": names,
            "tuples": int((~runs.failed).sum() * runs.action.shape[1]),
            "failed_dataset_runs": int(runs.failed.sum()),
            "candidates": outputs["candidates"],
            "validation_scores": np.asarray(outputs["validation_scores"]).tolist(),
            "selected": int(outputs["selected"]),
            "archs": archs,
            "training": training,
        }
    )
    refresh(experiment, host, sink)
    table = table_text(final_rows(host))
    postfix = {"env": f"{chunk + 1}/{experiment.num_chunks}", "messages": [table]}
    return host, postfix


def _curves_of(host):
    """(env label, arch, its results, method, J [R, T + 1]) of every curve."""
    for label, record in host["envs"].items():
        for arch in record["archs_order"]:
            result = record["archs"][arch]
            for method, values in result["J"].items():
                yield label, arch, result, method, np.asarray(values, float)


def final_rows(host) -> list[dict]:
    """One row per env, architecture and method (meta, random and every
    fixed KL): J at the last update and the mean J over the updates (the
    area under the curve), each mean +- 90 % CI over runs."""
    rows = []
    for label, arch, result, method, values in _curves_of(host):
        last = mean_ci(values[:, -1], LEVEL)
        area = mean_ci(np.nanmean(values[:, 1:], axis=1), LEVEL)
        rows.append(
            {
                "env": label,
                "arch": arch,
                "seen": result["trained"],
                "method": method,
                "best_fixed": method == result["best_fixed"],
                "best_ppo_fixed": method == result.get("best_ppo_fixed"),
                "env_steps_ratio": result.get("env_steps_ratio", {}).get(method, 1.0),
                "runs": int(np.isfinite(values[:, -1]).sum()),
                "J_last_mean": last[0],
                "J_last_ci90": last[1],
                "J_auc_mean": area[0],
                "J_auc_ci90": area[1],
                "kl_mean": float(np.nanmean(result["kl"][method])),
            }
        )
    return rows


def table_text(rows) -> str:
    """Markdown: per env, meta-KL, the best fixed KL (by mean J over the
    updates) and random KL on every architecture: mean J over the updates and
    J at the last update, mean +- 90 % CI over runs."""
    lines = []
    for env in dict.fromkeys(r["env"] for r in rows):
        lines += [
            f"### {env} (mean ± 90% CI over runs)",
            "",
            "| architecture | seen | measure | meta-KL (FQI) | best fixed KL | "
            "random KL |",
            "|---|---|---|---|---|---|",
        ]
        mine = [r for r in rows if r["env"] == env]
        for arch in dict.fromkeys(r["arch"] for r in mine):
            by = {r["method"]: r for r in mine if r["arch"] == arch}
            best = next(r for r in by.values() if r["best_fixed"])
            seen = "yes" if best["seen"] else "no"
            for measure, key in (("mean J", "J_auc"), ("last J", "J_last")):

                def cell(r, key=key):
                    return f"{r[key + '_mean']:.2f} ± {r[key + '_ci90']:.2f}"

                lines.append(
                    f"| {arch} | {seen} | {measure} | {cell(by['meta'])} | "
                    f"{cell(best)} (λ={best['method'][6:]}) | {cell(by['random'])} |"
                )
        lines.append("")
        lines += _beyond_lines(mine)
    return "\n".join(lines)


BEYOND = (
    ("xTRPO meta-KL (FQI)", lambda r: r["method"] == "meta"),
    ("xTRPO best fixed KL", lambda r: r["best_fixed"]),
    ("xTRPO + PBT on λ", lambda r: r["method"] == "pbt"),
    ("xTRPO + BiERL on λ", lambda r: r["method"] == "bierl"),
    ("PPO meta-clip (FQI)", lambda r: r["method"] == "ppo-meta-clip"),
    ("PPO best fixed clip", lambda r: r["best_ppo_fixed"]),
)


def _beyond_lines(rows) -> list[str]:
    """Beyond the seed: PBT, BiERL and PPO's meta-clip beside meta-KL."""
    archs = [
        a for a in dict.fromkeys(r["arch"] for r in rows)
        if any(r["method"] in ("pbt", "bierl", "ppo-meta-clip")
               for r in rows if r["arch"] == a)
    ]  # fmt: skip
    if not archs:
        return []
    lines = [
        "Beyond the seed (same runs; env steps relative to one xTRPO run):",
        "",
        "| architecture | method | mean J | last J | env steps |",
        "|---|---|---|---|---|",
    ]
    for arch in archs:
        for name, match in BEYOND:
            found = [r for r in rows if r["arch"] == arch and match(r)]
            if not found:
                continue
            r = found[0]
            if r["method"].startswith(("fixed-", "ppo-fixed-")):
                name += f" ({r['method'].split('-')[-1]})"
            lines.append(
                f"| {arch} | {name} | {r['J_auc_mean']:.2f} ± {r['J_auc_ci90']:.2f} "
                f"| {r['J_last_mean']:.2f} ± {r['J_last_ci90']:.2f} "
                f"| {r['env_steps_ratio']:g}x |"
            )
    return lines + [""]


def _curve_rows(host) -> list[dict]:
    rows = []
    for label, arch, result, method, values in _curves_of(host):
        kls = np.asarray(result["kl"][method], float)
        for t in range(values.shape[1]):
            mean, half, n = mean_ci(values[:, t], LEVEL)
            rows.append(
                {
                    "env": label,
                    "arch": arch,
                    "method": method,
                    "update": t,
                    "J_mean": mean,
                    "J_ci90": half,
                    "runs": n,
                    "kl_mean": float(np.mean(kls[:, t]))
                    if t < kls.shape[1]
                    else np.nan,
                }
            )
    return rows


def refresh(experiment, host, sink) -> None:
    """table.md, results.csv, curves.csv, fqi_selection.csv, curves_<env>.png."""
    if not host["envs"]:
        return
    rows = final_rows(host)
    sink.write_text("table.md", table_text(rows))
    sink.write_csv("results.csv", rows)
    sink.write_csv("curves.csv", _curve_rows(host))
    selection = []
    for label, record in host["envs"].items():
        for i, (horizon, psi) in enumerate(record["candidates"]):
            selection.append(
                {
                    "env": label,
                    "H": int(horizon),
                    "psi": psi,
                    "validation_mean_J": record["validation_scores"][i],
                    "selected": i == record["selected"],
                    "tuples": record["tuples"],
                }
            )
    sink.write_csv("fqi_selection.csv", selection)
    for label, record in host["envs"].items():
        width = 3.6 * len(record["archs_order"])
        sink.figure(
            f"curves_{label}.png",
            lambda fig, r=record, lab=label: _plot_env(fig, r, lab),
            size=(max(width, 5.0), 6.0),
        )


def _band(ax, values, color, label):
    values = np.asarray(values, float)
    stats = [mean_ci(values[:, t], LEVEL) for t in range(values.shape[1])]
    mean = np.array([m for m, _, _ in stats])
    half = np.nan_to_num(np.array([h for _, h, _ in stats]))
    steps = np.arange(mean.size)
    ax.plot(steps, mean, color=color, label=label)
    ax.fill_between(steps, mean - half, mean + half, color=color, alpha=0.2)


def _plot_env(fig, record, label):
    archs = record["archs_order"]
    axes = fig.subplots(2, len(archs), sharex="col", squeeze=False)
    for j, arch in enumerate(archs):
        result = record["archs"][arch]
        best = result["best_fixed"]
        top, bottom = axes[0, j], axes[1, j]
        _band(top, result["J"]["meta"], "C0", "meta-KL (FQI)")
        _band(top, result["J"][best], "C1", f"best fixed ({best[6:]})")
        _band(top, result["J"]["random"], "C2", "random KL")
        extras = (("pbt", "C3", "PBT on λ"), ("bierl", "C4", "BiERL on λ"),
                  ("ppo-meta-clip", "C5", "PPO meta-clip (FQI)"))  # fmt: skip
        for method, color, name in extras:
            if method in result["J"]:
                _band(top, result["J"][method], color, name)
        ppo_best = result.get("best_ppo_fixed")
        if ppo_best:
            _band(top, result["J"][ppo_best], "C6", f"PPO clip {ppo_best[10:]}")
        if arch in record["training"] and record["training"][arch]["J"]:
            _band(top, record["training"][arch]["J"], "C7", "meta-dataset runs")
        seen = "" if result["trained"] else " (unseen)"
        top.set_title(f"{label}: {arch}{seen}", fontsize=9)
        top.set_ylabel("J")
        top.legend(fontsize=6)
        for method, color in (("meta", "C0"), ("random", "C2"), ("pbt", "C3"),
                              ("bierl", "C4")):  # fmt: skip
            if method not in result["kl"]:
                continue
            kls = np.asarray(result["kl"][method], float)
            bottom.plot(np.arange(kls.shape[1]), kls.mean(0), color=color)
        bottom.axhline(float(best[6:]), color="C1", linestyle="--")
        bottom.set_yscale("log")
        bottom.set_xlabel("TRPO update")
        bottom.set_ylabel("λ chosen (mean)")
