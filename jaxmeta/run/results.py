"""The run directory: config, per-member metrics CSV, learning curves, best config.

Layout of `run_dir`:
  config.json         what was run (experiment, learner config, search space, seed)
  metrics.csv         one row per (round, member, update) with every metric
  members.csv         one row per (round, member): hparams, final return, score
  learning_curve.png  episode return per update, best member of each round bold
  best_config.json    the best member's hparams, score and return
"""

import csv
import json
import os

import numpy as np


def to_jsonable(value):
    """Numbers and arrays to plain Python for json."""
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    arr = np.asarray(value) if hasattr(value, "shape") else None
    if arr is not None:
        return arr.item() if arr.ndim == 0 else arr.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


def write_json(path: str, data) -> None:
    with open(path, "w") as f:
        json.dump(to_jsonable(data), f, indent=2, allow_nan=True)


def write_metrics_csv(path: str, rounds: list[dict]) -> None:
    """rounds[r]: {name: np.ndarray [pop, num_updates]}; appends nothing, rewrites."""
    names = sorted(rounds[0])
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["round", "member", "update", *names])
        for r, metrics in enumerate(rounds):
            pop, updates = metrics[names[0]].shape
            for m in range(pop):
                for u in range(updates):
                    writer.writerow(
                        [r, m, u, *(f"{metrics[n][m, u]:.6g}" for n in names)]
                    )


def write_members_csv(path: str, rows: list[dict]) -> None:
    """One row per evaluated member; keys of the first row are the columns."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow(to_jsonable(row))


def plot_learning_curves(path: str, rounds: list[dict], best: list[int]) -> None:
    """Episode return per update for every member; the best of each round bold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    offset = 0
    for r, metrics in enumerate(rounds):
        curves = np.asarray(metrics["episode_return"], float)
        x = offset + np.arange(curves.shape[1])
        for m, curve in enumerate(curves):
            mask = np.isfinite(curve)
            bold = m == best[r]
            ax.plot(
                x[mask],
                curve[mask],
                color=f"C{r}",
                alpha=1.0 if bold else 0.15,
                lw=2.0 if bold else 0.8,
                label=f"round {r + 1} best" if bold else None,
            )
        offset += curves.shape[1]
    ax.set_xlabel("update (rounds side by side)")
    ax.set_ylabel("episode return")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def make_run_dir(root: str, name: str) -> str:
    """A fresh directory `root/name-N` (N the first unused integer)."""
    os.makedirs(root, exist_ok=True)
    n = 0
    while os.path.exists(os.path.join(root, f"{name}-{n}")):
        n += 1
    path = os.path.join(root, f"{name}-{n}")
    os.makedirs(path)
    return path
