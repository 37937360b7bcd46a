"""The host side of the generalisation experiment (`run.transfer`): the
meta-training searches (meta_training.csv, meta_trials.csv,
meta_training.png), the test experiment's own files (`run.episodes_report`:
results.csv, trials.csv, table.md, best_so_far.png) and trials to target
(transfer.csv, transfer.md).

Trials to target. The trials of a round are drawn together, so a search
reaches the target when the round holding its first trial at or above the
target ends: trials to target = the trials evaluated by then (round x
population), tuning env steps to target = the env steps spent by then. A
search that never reaches it is censored ("not reached"; medians count it as
+inf, as the episodes table does).
"""

import numpy as np

from jaxmeta.run.driver import NullSink
from jaxmeta.score.stats import format_ci

META_COLUMNS = ("search", "env", "task", "best_eval_return", "mean_eval_return",
                "failed", "env_steps", "seconds")  # fmt: skip


def empty_host(experiment) -> dict:
    """Nothing run: the running meta-training search's tune host, finished
    searches, the test experiment's host, transfer rows."""
    return {"meta": {"running": None, "searches": []},
            "test": experiment.test.host_init(), "transfer": []}  # fmt: skip


def _meta_report(experiment, chunk, outputs, host, sink):
    where = experiment.meta_plan[chunk]
    part = experiment.trainers[where.env]
    meta = host["meta"]
    if where.sub == 0:
        meta["running"] = {"tune": part.tuner.host_init(), "env_steps": 0,
                           "seconds": 0.0}  # fmt: skip
    running = meta["running"]
    running["tune"], _ = part.tuner.report(
        where.sub, outputs["meta"], running["tune"], NullSink()
    )
    c = part.tuner.config
    per_update = part.tuner.learner.steps_per_update
    running["env_steps"] += c.population_size * c.chunk_size * per_update
    running["seconds"] += float(outputs["seconds"])
    env = part.spec["env"]
    if where.last:
        members = running["tune"]["members"]
        returns = np.array(
            [np.nan if m["failed"] else m["eval_return"] for m in members], float
        )
        task = " ".join(
            f"{k}={float(np.asarray(v)):.4g}" for k, v in outputs["task"].items()
        )
        finite = returns[np.isfinite(returns)]
        row = {
            "search": where.search, "env": env, "task": task,
            "best_eval_return": float(finite.max()) if finite.size else np.nan,
            "mean_eval_return": float(finite.mean()) if finite.size else np.nan,
            "failed": int((~np.isfinite(returns)).sum()),
            "env_steps": running["env_steps"], "seconds": running["seconds"],
        }  # fmt: skip
        meta["searches"].append(row)
        sink.append("meta_trials.csv", [
            {"search": where.search, "env": env, "trial": i,
             "round": m["round"], "eval_return": m["eval_return"],
             "failed": m["failed"],
             **{n: m[n] for n in part.tuner.hparam_names}}
            for i, m in enumerate(members)
        ])  # fmt: skip
        sink.scalars(where.search, {f"meta/{env}/best_eval_return":
                                    row["best_eval_return"]})  # fmt: skip
        meta["running"] = None
        refresh(experiment, host, sink)
    searches = experiment.config.meta_searches
    return {"stage": f"meta-train {where.search + 1}/{searches} {env}"}


def report(experiment, chunk, outputs, host, sink):
    """A meta-training chunk's trials, or a test chunk (the episodes
    experiment's report; trials to target when an env's results land)."""
    n_meta = len(experiment.meta_plan)
    if chunk < n_meta:
        postfix = _meta_report(experiment, chunk, outputs, host, sink)
    else:
        before = len(host["test"]["results"])
        host["test"], postfix = experiment.test.report(
            chunk - n_meta, outputs["test"], host["test"], sink
        )
        if len(host["test"]["results"]) != before:
            host["transfer"] = transfer_rows(experiment, host["test"])
            refresh(experiment, host, sink)
            postfix["messages"] = [*postfix.get("messages", ()), "\n" + table(
                experiment, None, host["transfer"])]  # fmt: skip
    postfix["done"] = f"{chunk + 1}/{experiment.num_chunks}"
    return host, postfix


def _first_hit(curve, target):
    """(trials, env steps) when the round of the first trial >= target
    ended, or (None, None)."""
    curve = np.asarray(curve, float).reshape(-1, 2)
    hit = np.flatnonzero(np.nan_to_num(curve[:, 1], nan=-np.inf) >= target)
    if not hit.size:
        return None, None
    steps = curve[hit[0], 0]
    return int(np.sum(curve[:, 0] <= steps)), int(steps)


def transfer_rows(experiment, test_host) -> list[dict]:
    """One row per (test env, searcher, seed) whose final training is done:
    trials and tuning env steps to the target, and the episodes rows'
    numbers for the config it found."""
    rows = []
    episodes = {(r["env"], r["method"], r["seed"]): r for r in test_host["results"]}
    for part in experiment.test.parts:
        env, target = part.spec["env"], part.spec["target"]
        for searcher in experiment.test.config.searchers:
            label = searcher["label"]
            for seed in range(experiment.config.seeds):
                found = episodes.get((env, label, seed))
                if found is None:
                    continue
                curve = test_host["curves"].get(f"{env}/{label}/{seed}", [])
                trials, steps = _first_hit(curve, target)
                rows.append({
                    "env": env, "method": label, "seed": seed, "target": target,
                    "trials_reached": trials is not None,
                    "trials_to_target": trials,
                    "tuning_env_steps_to_target": steps,
                    "trials": len(curve),
                    "best_eval_return": found["tuned_eval_return"],
                    "train_reached": found["train_reached"],
                    "train_episodes_to_target": found["train_episodes_to_target"],
                    "greedy_reached": found["greedy_reached"],
                    "greedy_episodes_to_target": found["greedy_episodes_to_target"],
                    "final_greedy_return": found["final_greedy_return"],
                })  # fmt: skip
    return rows


def _median(values, reached) -> str:
    x = np.where(reached, np.asarray(values, float), np.inf)
    if not x.size:
        return "n/a"
    median = float(np.median(x))
    return f"{median:,.0f}" if np.isfinite(median) else "not reached"


def table(experiment, host, rows) -> str:
    """Markdown: per test env, each searcher's trials and episodes to the
    target (meta-trained vs scratch vs baselines); meta-training summary
    first when `host` is given."""
    lines = []
    if host is not None and host["meta"]["searches"]:
        searches = host["meta"]["searches"]
        lines += ["### Meta-training searches", "",
                  "| search | env | task | best eval return | mean eval return |",
                  "|---|---|---|---|---|"]  # fmt: skip
        lines += [
            f"| {s['search']} | {s['env']} | {s['task']} | "
            f"{s['best_eval_return']:.1f} | {s['mean_eval_return']:.1f} |"
            for s in searches
        ]
        lines.append("")
    for env in dict.fromkeys(r["env"] for r in rows):
        mine = [r for r in rows if r["env"] == env]
        target = mine[0]["target"]
        lines += [
            f"### {env} (unseen): target {target:g}, {experiment.config.seeds} seeds",
            "",
            "| method | trials: reached | trials to target, median | tuning env "
            "steps to target, median | best tuned eval return | train: episodes "
            "to target, median | greedy: episodes, median | final greedy return |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for label in dict.fromkeys(r["method"] for r in mine):
            rs = [r for r in mine if r["method"] == label]
            col = lambda k, rs=rs: np.array(  # noqa: E731
                [np.nan if r[k] is None else r[k] for r in rs], float
            )
            hit = col("trials_reached") > 0
            cells = [
                label, f"{hit.sum()}/{len(rs)}",
                _median(col("trials_to_target"), hit),
                _median(col("tuning_env_steps_to_target"), hit),
                format_ci(col("best_eval_return")),
                _median(col("train_episodes_to_target"), col("train_reached") > 0),
                _median(col("greedy_episodes_to_target"), col("greedy_reached") > 0),
                format_ci(col("final_greedy_return")),
            ]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def refresh(experiment, host, sink) -> None:
    """The test experiment's files, meta_training.csv/.png, transfer.csv
    and transfer.md."""
    experiment.test.refresh(host["test"], sink)
    searches = host["meta"]["searches"]
    if searches:
        sink.write_csv("meta_training.csv", searches, META_COLUMNS)
        sink.figure(
            "meta_training.png", lambda fig: _plot(fig, experiment, searches),
            size=(5 * len(experiment.trainers), 4),
        )  # fmt: skip
    if host["transfer"] or searches:
        sink.write_text("transfer.md", table(experiment, host, host["transfer"]))
    if host["transfer"]:
        sink.write_csv("transfer.csv", host["transfer"])


def _plot(fig, experiment, searches):
    for e, part in enumerate(experiment.trainers):
        env = part.spec["env"]
        mine = [s for s in searches if s["env"] == env]
        ax = fig.add_subplot(1, len(experiment.trainers), e + 1)
        x = [s["search"] for s in mine]
        ax.plot(x, [s["best_eval_return"] for s in mine], "o-", label="best trial")
        ax.plot(x, [s["mean_eval_return"] for s in mine], "s--", label="mean trial")
        ax.set_title(f"meta-training on {env} tasks", fontsize=8)
        ax.set_xlabel("search (tasks in turn over the training envs)")
        ax.set_ylabel("evaluation return")
        ax.legend(fontsize=6)
