"""The host side of the episodes-to-target experiment (`run.episodes`): the
tuning runs' trials and best-so-far curves, the final training's episodes to
target, the table (beside seeds/000's numbers and rl-zoo's tuned agents),
results.csv, trials.csv and best_so_far.png.

Censoring: a run that does not reach the target within its final training
is "not reached"; it counts in the "reached k/n" column, the mean ± 95 % CI
is over the runs that reached it (so it is optimistic when some did not),
and the median is over every run with unreached ones as +inf (shown as not
reached when the median itself is).
"""

import warnings

import numpy as np

from jaxmeta.learners.base import FAILURE_NONE
from jaxmeta.run.driver import NullSink
from jaxmeta.run.episodes_maml import meta_report
from jaxmeta.score import episodes_to_target_from_updates
from jaxmeta.score.stats import format_ci

# seeds/000, "Sample Efficiency (Episodes to reach Target Reward)"
SEED_TABLE = {
    "SAM-HRL-HS": (1800, 3100, 5500),
    "MAML": (3500, 7200, 12000),
    "REINFORCE": (5800, 10500, 18000),
}
SEED_ENVS = ("CartPole", "MountainCar", "LunarLander")
# rl-baselines3-zoo's tuned agents (shared/seeds/README.md): final mean ± std
# at the env steps they trained; they report no episodes to target.
RL_ZOO = {
    "CartPole": "PPO 500 ± 0 at 1e5 steps; DQN 500 ± 0 at 5e4",
    "MountainCar": "DQN -100.8 ± 9.9 at 1.2e5 steps; PPO -110.4 ± 19.5 at 1e6",
    "LunarLander": "PPO 242 ± 32 at 1e6 steps; DQN 154 ± 79 at 1e5",
}
TRIAL_COLUMNS = (
    "env", "searcher", "seed", "trial", "budget_updates", "eval_return", "failed",
    "tuning_env_steps", "config",
)  # fmt: skip


def _seed_key(env: str) -> int | None:
    return next((i for i, k in enumerate(SEED_ENVS) if env.startswith(k)), None)


def seed_number(env: str, searcher: dict | None) -> str:
    """The seed's episodes for this env and method ('' when it has none)."""
    i = _seed_key(env)
    if i is None:
        return ""
    if searcher == "maml":
        return f"{SEED_TABLE['MAML'][i]:,}"
    if searcher is None:  # the reference row
        return f"{SEED_TABLE['REINFORCE'][i]:,}"
    if searcher["searcher"] == "sam-hrl-hs" and searcher["calibrate_online"]:
        return f"{SEED_TABLE['SAM-HRL-HS'][i]:,}"
    return ""


def empty_host(experiment) -> dict:
    """Nothing run yet: tuning runs in progress ("tune": their own host
    records), best-so-far curves and costs per "env/label/seed", configs
    found, final training per env and group, result rows."""
    return {"tune": {}, "curves": {}, "cost": {}, "found": {}, "final": {},
            "results": []}  # fmt: skip


def _config_text(config: dict) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in config.items())


def _tune_report(experiment, where, outputs, host, sink):
    part = experiment.parts[where.env]
    env, searcher = part.spec["env"], experiment.config.searchers[where.searcher]
    key = f"{env}/{searcher['label']}/{where.seed}"
    tuner = part.tuners[where.searcher]
    sub_host = host["tune"].get(key) or tuner.host_init()
    before = len(sub_host["members"])
    sub_host, post = tuner.report(where.sub, outputs["tune"], sub_host, NullSink())
    cost = host["cost"].setdefault(key, {"env_steps": 0, "seconds": 0.0})
    cost["env_steps"] += int(outputs["env_steps"])
    cost["seconds"] += float(outputs["seconds"])
    curve = host["curves"].setdefault(key, [])
    rows = []
    for row in sub_host["members"][before:]:
        value = np.nan if row["failed"] else float(row["eval_return"])
        best = curve[-1][1] if curve else np.nan
        if np.isfinite(value) and not value <= best:  # NaN best: first finite
            best = value
        curve.append([cost["env_steps"], float(best)])
        config = {n: row[n] for n in tuner.hparam_names}
        rows.append(
            dict(zip(TRIAL_COLUMNS, (
                env, searcher["label"], where.seed, len(curve) - 1,
                row.get("budget", tuner.config.num_updates), row["eval_return"],
                row["failed"], cost["env_steps"], _config_text(config),
            ), strict=True))
        )  # fmt: skip
    sink.append("trials.csv", rows)
    host["tune"][key] = sub_host
    if where.last:
        del host["tune"][key]  # its trials are in trials.csv and the curve
        z = np.asarray(outputs["found"]["z"], np.float32)
        hparams = part.space.to_hparams(z)
        host["found"][key] = {
            "config": {n: float(getattr(hparams, n)) for n in part.space.names},
            "eval_return": float(outputs["found"]["eval_return"]),
        }
    return [f"{key}: {m}" for m in post.get("messages", ())]


def _final_report(experiment, where, outputs, host):
    part = experiment.parts[where.env]
    record = host["final"].setdefault(part.spec["env"], {})
    for group in experiment.groups(part):
        out, mine = outputs[group.name], record.setdefault(group.name, {})
        metrics = {k: np.asarray(v, float) for k, v in out["metrics"].items()}
        count = metrics["episodes"].shape[0]
        for name in ("episode_return", "episodes"):
            lists = mine.setdefault(name, [[] for _ in range(count)])
            for i in range(count):
                lists[i].extend(metrics[name][i].tolist())
        evals = mine.setdefault("eval", [[] for _ in range(count)])
        for i in range(count):
            evals[i].append(float(np.asarray(out["eval_return"])[i]))
        mine["code"] = np.asarray(out["failure_code"]).astype(int).tolist()
    if where.last:
        host["results"].extend(env_rows(experiment, part, record, host))


def env_rows(experiment, part, record, host) -> list[dict]:
    """One results row per final-training member of an env."""
    env, target, seeds = part.spec["env"], part.spec["target"], experiment.config.seeds
    rows = []
    for group in experiment.groups(part):
        mine = record[group.name]
        returns = np.asarray(mine["episode_return"], np.float32)
        episodes = np.asarray(mine["episodes"], np.float32)
        window = part.spec["window"]
        train = np.asarray(
            episodes_to_target_from_updates(returns, episodes, target, window)
        )
        cum = np.cumsum(np.nan_to_num(episodes), axis=1)
        evals = np.asarray(mine["eval"], float)
        upc, per_update = group.updates_per_chunk, group.learner.steps_per_update
        for i in range(returns.shape[0]):
            label, seed = group.labels[i // seeds], i % seeds
            hit = np.flatnonzero(np.nan_to_num(evals[i], nan=-np.inf) >= target)
            greedy_update = int((hit[0] + 1) * upc) if hit.size else None
            key = f"{env}/{label}/{seed}"
            cost = host["cost"].get(key, {"env_steps": 0, "seconds": 0.0})
            found = host["found"].get(key)
            reached = bool(train[i] <= cum[i, -1])
            rows.append({
                "env": env, "method": group.name if group.name != "tuned" else label,
                "learner": part.spec["reference"]["learner"]
                if group.name == "reference" else part.spec["learner"],
                "seed": seed, "target": target,
                "train_reached": reached,
                "train_episodes_to_target": float(train[i]) if reached else np.nan,
                "greedy_reached": greedy_update is not None,
                "greedy_episodes_to_target": float(cum[i, greedy_update - 1])
                if greedy_update else np.nan,
                "greedy_updates_to_target": greedy_update,
                "greedy_env_steps_to_target": greedy_update * per_update
                if greedy_update else None,
                "final_greedy_return": float(evals[i, -1]),
                "train_episodes": float(cum[i, -1]),
                "final_env_steps": upc * len(evals[i]) * per_update,
                "tuned_eval_return": found["eval_return"] if found else np.nan,
                "tuning_env_steps": cost["env_steps"],
                "tuning_seconds": cost["seconds"],
                "failed": mine["code"][i] != FAILURE_NONE,
                "config": _config_text(found["config"]) if found
                else "defaults" + (" from MAML init" if group.name == "maml" else ""),
            })  # fmt: skip
    return rows


def report(experiment, chunk, outputs, host, sink):
    """A tuning chunk's trials, or a final chunk's curves (and, at an env's
    last chunk, its results rows and the table)."""
    where = experiment.plan[chunk]
    env = experiment.parts[where.env].spec["env"]
    messages = []
    if where.searcher >= 0:
        messages = _tune_report(experiment, where, outputs, host, sink)
        label = experiment.config.searchers[where.searcher]["label"]
        stage = f"{env} {label} seed {where.seed}"
    elif where.searcher == -2:
        messages = meta_report(experiment, where, outputs, host, sink)
        chunks = experiment.parts[where.env].spec["maml"]["chunks"]
        stage = f"{env} maml {where.sub + 1}/{chunks}"
    else:
        _final_report(experiment, where, outputs, host)
        chunks = experiment.parts[where.env].spec["final_chunks"]
        stage = f"{env} final {where.sub + 1}/{chunks}"
        if where.last:
            refresh(experiment, host, sink)
            messages.append("\n" + table(experiment, host["results"]))
    done = f"{chunk + 1}/{experiment.num_chunks}"
    return host, {"stage": stage, "done": done, "messages": messages}


def _median_text(values, reached) -> str:
    x = np.where(reached, values, np.inf)
    if not x.size:
        return "n/a"
    median = float(np.median(x))
    return f"{median:,.0f}" if np.isfinite(median) else "not reached"


def table(experiment, rows) -> str:
    """Markdown: per env, each method's episodes to target (training running
    mean and greedy evaluation), its final greedy return and tuning cost."""
    lines = []
    for part in experiment.parts:
        spec, env = part.spec, part.spec["env"]
        if not any(r["env"] == env for r in rows):
            continue  # not trained yet
        budget = spec["population_size"] * spec["rounds"] * spec["num_updates"]
        budget *= part.tuners[0].learner.steps_per_update
        lines += [
            f"### {env}: target {spec['target']:g}, {spec['learner']} tuned at "
            f"{budget:,} env steps per run, final training "
            f"{spec['final_env_steps']:,} env steps, {experiment.config.seeds} seeds",
            "",
            "| method | train: reached | train: episodes, mean ± 95% CI (reached) "
            "| train: median | greedy: reached | greedy: episodes, median | "
            "greedy: env steps, median | final greedy return | tuned eval return "
            "| tuning env steps | tuning s | seed paper |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        labels = [s["label"] for s in experiment.config.searchers]
        for label in [*labels, "defaults", "maml", "reference"]:
            mine = [r for r in rows if r["env"] == env and r["method"] == label]
            if not mine:
                continue
            searcher = next(
                (s for s in experiment.config.searchers if s["label"] == label), None
            )
            name = {
                "reference": mine[0]["learner"] + " defaults",
                "maml": f"{mine[0]['learner']} defaults from MAML init",
            }.get(label, label)
            costly = searcher or label == "maml"  # tuning or meta-training
            col = lambda k, rs=mine: np.array([r[k] for r in rs], float)  # noqa: E731
            train_hit, greedy_hit = col("train_reached") > 0, col("greedy_reached") > 0
            steps = np.array(
                [r["greedy_env_steps_to_target"] or np.nan for r in mine], float
            )
            cells = [
                name,
                f"{train_hit.sum()}/{len(mine)}",
                format_ci(col("train_episodes_to_target")[train_hit], digits=0),
                _median_text(col("train_episodes_to_target"), train_hit),
                f"{greedy_hit.sum()}/{len(mine)}",
                _median_text(col("greedy_episodes_to_target"), greedy_hit),
                _median_text(steps, greedy_hit),
                format_ci(col("final_greedy_return")),
                format_ci(col("tuned_eval_return")) if searcher else "-",
                f"{col('tuning_env_steps').mean():,.0f}" if costly else "0",
                f"{col('tuning_seconds').mean():.0f}" if costly else "0",
                seed_number(env, "maml" if label == "maml" else searcher)
                if label != "defaults"
                else "",
            ]
            lines.append("| " + " | ".join(cells) + " |")
        i = _seed_key(env)
        if i is not None:
            lines += [
                "",
                f"seeds/000 on {SEED_ENVS[i]} (episodes): "
                + ", ".join(f"{m} {v[i]:,}" for m, v in SEED_TABLE.items())
                + f". rl-zoo tuned: {RL_ZOO[SEED_ENVS[i]]}.",
            ]
        lines.append("")
    return "\n".join(lines)


def refresh(experiment, host, sink) -> None:
    """results.csv, table.md and best_so_far.png."""
    if host["results"]:
        sink.write_csv("results.csv", host["results"])
        sink.write_text("table.md", table(experiment, host["results"]))
    if host["curves"]:
        envs = len(experiment.parts)
        sink.figure(
            "best_so_far.png",
            lambda fig: _plot(fig, experiment, host),
            size=(5 * envs, 4),
        )


def _plot(fig, experiment, host):
    for e, part in enumerate(experiment.parts):
        ax = fig.add_subplot(1, len(experiment.parts), e + 1)
        env = part.spec["env"]
        for j, searcher in enumerate(experiment.config.searchers):
            curves = [
                np.asarray(c, float)
                for k, c in host["curves"].items()
                if k.rsplit("/", 1)[0] == f"{env}/{searcher['label']}" and c
            ]
            if not curves:
                continue
            top = max(c[-1, 0] for c in curves)
            grid = np.linspace(0, top, 80)
            values = []
            for c in curves:
                at = np.searchsorted(c[:, 0], grid, side="right") - 1
                values.append(np.where(at >= 0, c[np.maximum(at, 0), 1], np.nan))
            with warnings.catch_warnings():  # all-NaN columns: before any trial
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(np.asarray(values), axis=0)
            ax.plot(grid, mean, color=f"C{j % 10}", label=searcher["label"])
        ax.axhline(part.spec["target"], color="k", ls="--", lw=0.8, label="target")
        ax.set_title(f"{env}: best eval return so far (mean over seeds)", fontsize=8)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
        ax.set_xlabel("tuning env steps")
        ax.set_ylabel("best evaluation return")
        ax.legend(fontsize=6)
