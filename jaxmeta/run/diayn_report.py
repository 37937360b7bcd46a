"""The host side of the DIAYN experiment (`run.diayn`): accuracy.csv (per
group, seed and chunk: the discriminator's training accuracy and the mean
pseudo-reward over the chunk), skills.csv (per group, seed and skill: the
discriminator's accuracy on the skill's own evaluation states, whether that
reaches the threshold, the skill's mean-action return on the env reward),
downstream.csv (per arm, seed and evaluation: env steps and greedy return),
table.md and three PNGs."""

import warnings

import numpy as np

from jaxmeta.learners.base import FAILURE_NONE
from jaxmeta.score.stats import format_ci

# Eysenbach et al. (2018): DIAYN learns diverse, distinguishable skills with
# no reward (2-D navigation, Figure 2 and its appendix; MuJoCo bodies), and
# the best skill as the initialisation of a reward task learns faster than a
# random one (Figure 5: HalfCheetah, Hopper, Ant). The seed chapter gives no
# numbers.


def empty_host(experiment) -> dict:
    """Per group: accuracy and pseudo-reward per chunk (lists over seeds),
    the evaluation; per downstream arm: greedy returns per evaluation."""
    groups = {name: {"accuracy": [], "pseudo_reward": [], "failed": [],
                     "seconds": 0.0} for name in experiment.groups}  # fmt: skip
    arms = {arm: {"greedy": [], "train": [], "failed": [], "seconds": 0.0}
            for arm in ("scratch", "skill")}  # fmt: skip
    return {"groups": groups, "skills": {}, "downstream": arms, "best": []}


def report(experiment, chunk, outputs, host, sink):
    """A chunk's rows; the whole-run files when the last chunk lands."""
    if chunk < experiment.diayn_chunks:
        rows = []
        for name, out in outputs.items():
            if name == "initial":
                continue
            record = host["groups"][name]
            record["accuracy"].append(
                np.asarray(out["discriminator_accuracy"]).tolist()
            )
            record["pseudo_reward"].append(np.asarray(out["pseudo_reward"]).tolist())
            record["failed"] = (np.asarray(out["failure"]) != FAILURE_NONE).tolist()
            record["seconds"] += float(out["seconds"])
            steps = (
                (chunk + 1) * experiment.updates_per_chunk * experiment.config.num_envs
            )
            for seed, acc in enumerate(record["accuracy"][-1]):
                reward = record["pseudo_reward"][-1][seed]
                rows.append({"group": name, "seed": seed, "chunk": chunk,
                             "env_steps": steps, "discriminator_accuracy": acc,
                             "pseudo_reward": reward})  # fmt: skip
            if "own_accuracy" in out:
                host["skills"][name] = {
                    key: np.asarray(out[key]).tolist()
                    for key in ("own_accuracy", "skill_return", "path", "alive")
                }
        sink.append("accuracy.csv", rows)
        if "initial" in outputs:
            initial = outputs["initial"]
            host["best"] = np.asarray(initial["best"]).tolist()
            for arm in ("scratch", "skill"):
                host["downstream"][arm]["greedy"].append(
                    np.asarray(initial[arm]).tolist()
                )
    else:
        for arm in ("scratch", "skill"):
            out, record = outputs[arm], host["downstream"][arm]
            record["greedy"].append(np.asarray(out["greedy"]).tolist())
            train = np.asarray(out["train"], float)
            with warnings.catch_warnings():  # chunks where no episode ended
                warnings.simplefilter("ignore", RuntimeWarning)
                record["train"].append(np.nanmean(train, axis=1).tolist())
            record["failed"] = (np.asarray(out["failure"]) != FAILURE_NONE).tolist()
            record["seconds"] += float(out["seconds"])
    postfix = {"done": f"{chunk + 1}/{experiment.num_chunks}"}
    if chunk + 1 == experiment.num_chunks:
        refresh(experiment, host, sink)
        postfix["messages"] = ["\n" + table(experiment, host)]
    return host, postfix


def skill_rows(experiment, host) -> list[dict]:
    """Per (group, seed, skill): own-state accuracy, distinguishable, return."""
    rows = []
    for name, record in host["skills"].items():
        accuracy = np.asarray(record["own_accuracy"], float)  # [seeds, K]
        returns = np.asarray(record["skill_return"], float)
        for seed in range(accuracy.shape[0]):
            for skill in range(accuracy.shape[1]):
                rows.append({
                    "group": name, "seed": seed, "skill": skill,
                    "own_accuracy": accuracy[seed, skill],
                    "distinguishable": bool(
                        accuracy[seed, skill] >= experiment.config.threshold),
                    "env_return": returns[seed, skill],
                })  # fmt: skip
    return rows


def downstream_rows(experiment, host) -> list[dict]:
    """Per (arm, seed, evaluation): downstream env steps and greedy return."""
    rows, per = [], experiment.downstream_per_chunk * experiment.config.num_envs
    for arm, record in host["downstream"].items():
        for i, returns in enumerate(record["greedy"]):
            for seed, value in enumerate(returns):
                rows.append({"arm": arm, "seed": seed, "env_steps": i * per,
                             "greedy_return": value})  # fmt: skip
    return rows


def _area(values):
    """Mean over evaluations per seed: [evals, seeds] -> [seeds]."""
    return np.asarray(values, float).mean(axis=0)


def table(experiment, host) -> str:
    """Markdown: per group the final discriminator accuracy and the number of
    distinguishable skills (mean ± 95% CI over seeds); the downstream arms'
    greedy return at the start, at the end and averaged over training."""
    c = experiment.config
    lines = [
        f"DIAYN, {c.seeds} seeds, {c.updates * c.num_envs:,} env steps each; "
        f"distinguishable: the discriminator names the skill on >= {c.threshold:.0%} "
        f"of its own states ({c.eval_episodes} stochastic episodes)",
        "",
        "| env / skills | chance | training accuracy (last chunk) | own-state "
        "accuracy | distinguishable skills | wall s |",
        "|---|---|---|---|---|---|",
    ]
    for name, record in host["groups"].items():
        if name not in host["skills"] or not record["accuracy"]:
            continue
        own = np.asarray(host["skills"][name]["own_accuracy"], float)
        count = int(name.split("/")[1])
        cells = [name, f"{1 / count:.2f}", format_ci(record["accuracy"][-1], digits=2),
                 format_ci(own.mean(axis=1), digits=2),
                 format_ci((own >= c.threshold).sum(axis=1), digits=1) + f" of {count}",
                 f"{record['seconds']:.0f}"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    arms = host["downstream"]
    if len(arms["scratch"]["greedy"]) > 1:
        steps = c.downstream_updates * c.num_envs
        lines += [
            "",
            f"Downstream: SAC on {c.downstream_env}'s reward for {steps:,} env steps, "
            f"from the best of {c.downstream_skills} skills vs from scratch "
            "(greedy return, mean ± 95% CI over seeds)",
            "",
            "| start | before training | after | mean over evaluations | wall s |",
            "|---|---|---|---|---|",
        ]
        for arm, label in (("scratch", "from scratch"), ("skill", "best skill")):
            greedy = arms[arm]["greedy"]
            cells = [label, format_ci(greedy[0], digits=2),
                     format_ci(greedy[-1], digits=2),
                     format_ci(_area(greedy), digits=2),
                     f"{arms[arm]['seconds']:.0f}"]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def refresh(experiment, host, sink) -> None:
    """skills.csv, downstream.csv, table.md and the PNGs."""
    if not host["skills"]:
        return
    sink.write_csv("skills.csv", skill_rows(experiment, host))
    sink.write_csv("downstream.csv", downstream_rows(experiment, host))
    sink.write_text("table.md", table(experiment, host))
    sink.figure("diayn_accuracy.png", lambda fig: _accuracy(fig, experiment, host),
                (6, 4))  # fmt: skip
    names = list(host["skills"])
    sink.figure("diayn_skills.png", lambda fig: _paths(fig, host, names),
                (4 * len(names), 4))  # fmt: skip
    if len(host["downstream"]["scratch"]["greedy"]) > 1:
        sink.figure("diayn_downstream.png",
                    lambda fig: _downstream(fig, experiment, host), (6, 4))  # fmt: skip


def _band(ax, x, values, color, label):
    values = np.asarray(values, float)  # [points, seeds]
    mean = values.mean(axis=1)
    half = 1.96 * values.std(axis=1, ddof=1) / np.sqrt(values.shape[1]) if (
        values.shape[1] > 1) else 0 * mean  # fmt: skip
    ax.plot(x, mean, color=color, label=label)
    ax.fill_between(x, mean - half, mean + half, color=color, alpha=0.2)


def _accuracy(fig, experiment, host):
    ax = fig.add_subplot(1, 1, 1)
    per = experiment.updates_per_chunk * experiment.config.num_envs
    for j, (name, record) in enumerate(host["groups"].items()):
        x = per * np.arange(1, len(record["accuracy"]) + 1)
        _band(ax, x, record["accuracy"], f"C{j}", name)
        ax.axhline(1 / int(name.split("/")[1]), color=f"C{j}", ls=":", lw=0.8)
    ax.set_xlabel("env steps")
    ax.set_ylabel("discriminator accuracy (mean, 95% CI; dotted: chance)")
    ax.legend(fontsize=6)


def _paths(fig, host, names):
    for i, name in enumerate(names):
        ax = fig.add_subplot(1, len(names), i + 1)
        record = host["skills"][name]
        path = np.asarray(record["path"], float)  # [K, steps, 2], seed 0
        alive = np.asarray(record["alive"], bool)
        colors = __import__("matplotlib").colormaps["tab20"]
        for k in range(path.shape[0]):
            xy = path[k][alive[k]]
            ax.plot(xy[:, 0], xy[:, 1], color=colors(k % 20), lw=1)
            ax.plot(xy[-1:, 0], xy[-1:, 1], "o", color=colors(k % 20), ms=3)
        ax.set_title(f"{name}: mean-action paths, seed 0", fontsize=8)
        ax.set_xlabel("obs[0] (x)")
        ax.set_ylabel("obs[1] (y)")


def _downstream(fig, experiment, host):
    ax = fig.add_subplot(1, 1, 1)
    per = experiment.downstream_per_chunk * experiment.config.num_envs
    for j, arm in enumerate(("scratch", "skill")):
        greedy = host["downstream"][arm]["greedy"]
        label = {"scratch": "SAC from scratch", "skill": "SAC from the best skill"}
        _band(ax, per * np.arange(len(greedy)), greedy, f"C{j}", label[arm])
    ax.set_xlabel("downstream env steps")
    ax.set_ylabel("greedy return (mean, 95% CI)")
    ax.set_title(experiment.config.downstream_env, fontsize=8)
    ax.legend(fontsize=7)
