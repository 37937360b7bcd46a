"""The host side of the h-DQN experiment (`run.hdqn`): curves.csv (per
method, trial and chunk: training episodes so far, the mean extrinsic
reward of the chunk's training episodes, the exploring and greedy
evaluation rewards and the visits of s1..s6 per evaluation episode),
results.csv (per method and trial, the last chunk's numbers), table.md
and hdqn_chain.png (the paper's Figures 3 and 4 side by side)."""

import numpy as np

from jaxmeta.learners.base import FAILURE_NONE
from jaxmeta.run.report_common import ci_band, write_results
from jaxmeta.score.stats import format_ci

# Kulkarni et al. (2016), Section 4.1: h-DQN "obtains a significantly
# higher average reward of around 0.13"; Q-learning converges "to a
# sub-optimal policy of reaching state s1 directly to obtain a reward of
# 0.01". Their figure shows no flat DQN.
PAPER = {"hdqn": 0.13, "qlearning": 0.01}
STATES = [f"s{i + 1}" for i in range(6)]


def empty_host(experiment) -> dict:
    """Per method: per chunk and trial, episodes so far, training reward,
    evaluation rewards and visits."""
    keys = ("episodes", "train", "eval", "greedy", "visits")
    return {"methods": {name: {**{k: [] for k in keys}, "failed": []}
                        for name in experiment.learners},
            "seconds": {name: 0.0 for name in experiment.learners}}  # fmt: skip


def report(experiment, chunk, outputs, host, sink):
    """A chunk's curves rows; the table when the last chunk lands. Wall
    seconds per method include its first chunk's compilation."""
    rows = []
    steps = (chunk + 1) * experiment.updates_per_chunk * experiment.config.num_steps
    for name, out in outputs.items():
        record = host["methods"][name]
        counts = np.asarray(out["episodes"], float)  # [trials, updates]
        returns = np.asarray(out["episode_return"], float)
        with np.errstate(invalid="ignore"):
            train = np.nansum(returns * counts, axis=1) / counts.sum(axis=1)
        before = np.asarray(record["episodes"][-1]) if record["episodes"] else 0.0
        record["episodes"].append((before + counts.sum(axis=1)).tolist())
        record["train"].append(train.tolist())
        record["eval"].append(np.asarray(out["eval_reward"], float).tolist())
        record["greedy"].append(np.asarray(out["greedy_reward"], float).tolist())
        record["visits"].append(np.asarray(out["visits"], float).tolist())
        record["failed"] = (np.asarray(out["failure"]) != FAILURE_NONE).tolist()
        host["seconds"][name] += float(out["seconds"])
        for trial in range(train.shape[0]):
            visits = record["visits"][-1][trial]
            rows.append({
                "method": name, "trial": trial, "chunk": chunk, "env_steps": steps,
                "episodes": record["episodes"][-1][trial],
                "train_reward": record["train"][-1][trial],
                "eval_reward": record["eval"][-1][trial],
                "greedy_reward": record["greedy"][-1][trial],
                **{f"visits_{s}": v for s, v in zip(STATES, visits, strict=True)},
            })  # fmt: skip
    sink.append("curves.csv", rows)
    postfix = {"done": f"{chunk + 1}/{experiment.num_chunks}"}
    if chunk + 1 == experiment.num_chunks:
        refresh(experiment, host, sink)
        postfix["messages"] = ["\n" + table(experiment, result_rows(experiment, host))]
    return host, postfix


def result_rows(experiment, host) -> list[dict]:
    """Per (method, trial): the last chunk's training, exploring and greedy
    rewards and visits per episode, and whether the member failed."""
    rows = []
    for name, record in host["methods"].items():
        if not record["train"]:
            continue
        learner = experiment.config.methods[_index(experiment, name)]["learner"]
        for trial, train in enumerate(record["train"][-1]):
            visits = record["visits"][-1][trial]
            rows.append({
                "method": name, "learner": learner, "trial": trial,
                "final_train_reward": train,
                "final_eval_reward": record["eval"][-1][trial],
                "final_greedy_reward": record["greedy"][-1][trial],
                **{f"visits_{s}": v for s, v in zip(STATES, visits, strict=True)},
                "failed": record["failed"][trial] if record["failed"] else False,
                "method_wall_seconds": host["seconds"][name],
            })  # fmt: skip
    return rows


def _index(experiment, name) -> int:
    return [m["name"] for m in experiment.config.methods].index(name)


def table(experiment, rows) -> str:
    """Markdown: per method, the final chunk's mean training reward per
    episode (± 95% CI over trials) beside the paper's, the greedy
    policy's reward, and visits of s3..s6 per episode."""
    c = experiment.config
    lines = [
        f"StochasticChain-v0 (Kulkarni et al. 2016), {c.trials} trials, "
        f"{c.updates * c.num_steps:,} env steps each; optimal expected reward "
        f"{experiment.optimal:.3f}",
        "",
        "| method | training reward / episode (last chunk) | paper | greedy "
        "policy's reward | visits s3 | s4 | s5 | s6 | failed | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in experiment.learners:
        mine = [r for r in rows if r["method"] == name]
        if not mine:
            continue
        paper = PAPER.get(mine[0]["learner"])
        cells = [
            name,
            format_ci([r["final_train_reward"] for r in mine], digits=3),
            "n/a" if paper is None else f"about {paper}",
            format_ci([r["final_greedy_reward"] for r in mine], digits=3),
            *[f"{np.mean([r[f'visits_{s}'] for r in mine]):.2f}" for s in STATES[2:]],
            str(sum(bool(r["failed"]) for r in mine)),
            f"{mine[0]['method_wall_seconds']:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Training reward: mean extrinsic reward of the episodes each agent "
        "finished in the last chunk (epsilon-greedy, as in the paper's Figure "
        "3); visits: states arrived in per episode of the exploring policy "
        "(Figure 4).",
    ]
    return "\n".join(lines) + "\n"


def refresh(experiment, host, sink) -> None:
    """results.csv, table.md, hdqn_chain.png."""
    rows = result_rows(experiment, host)
    panels = 1 + len(experiment.learners)
    write_results(
        sink, rows, table(experiment, rows) if rows else "", "hdqn_chain.png",
        lambda fig: _plot(fig, experiment, host), (4 * panels, 3.6),
    )  # fmt: skip


def _plot(fig, experiment, host):
    panels = 1 + len(experiment.learners)
    per_chunk = experiment.updates_per_chunk * experiment.config.num_steps
    ax = fig.add_subplot(1, panels, 1)
    for j, (name, record) in enumerate(host["methods"].items()):
        if not record["train"]:
            continue
        x = per_chunk * np.arange(1, len(record["train"]) + 1)
        ci_band(ax, x, record["train"], f"C{j}", name)
    ax.axhline(experiment.optimal, color="k", ls="--", lw=0.8, label="optimal")
    for value, text in ((0.13, "paper h-DQN"), (0.01, "paper Q-learning")):
        ax.axhline(value, color="grey", ls=":", lw=0.8)
        ax.annotate(text, (0, value), fontsize=6, va="bottom")
    ax.set_xlabel("env steps")
    ax.set_ylabel("extrinsic reward / episode (mean, 95% CI)")
    ax.set_title("training reward (cf. paper Fig. 3)", fontsize=8)
    ax.legend(fontsize=6)
    for k, (name, record) in enumerate(host["methods"].items()):
        if not record["visits"]:
            continue
        ax = fig.add_subplot(1, panels, k + 2)
        visits = np.asarray(record["visits"], float)  # [chunks, trials, 6]
        x = per_chunk * np.arange(1, visits.shape[0] + 1)
        for i in range(2, 6):
            ci_band(ax, x, visits[:, :, i], f"C{i}", STATES[i])
        ax.set_xlabel("env steps")
        ax.set_ylabel("visits per episode")
        ax.set_title(f"{name}: visits of s3..s6 (cf. paper Fig. 4)", fontsize=8)
        ax.legend(fontsize=6)
