"""Host-side reporting of a population's training metrics, shared by every
experiment that trains populations: CSV rows, TensorBoard scalars and the
numbers of the progress bar.

metrics: host arrays `{name: [pop, chunk]}` of one chunk (metrics with more
axes, such as an ES generation's returns `[pop, chunk, n]`, stay out of the
CSV); members: the population indices to report (grid padding and device
padding left out).
"""

import numpy as np


def metric_rows(metrics, members, first_update: int, **columns) -> dict:
    """Columns of one row per (member, update): `columns` (e.g. round=0),
    `member`, `update` (counted from `first_update`) and every metric, as a
    dict of equal-length arrays for `ResultSink.append`."""
    names = sorted(n for n in metrics if np.ndim(metrics[n]) == 2)
    members = np.asarray(members, np.int64)
    chunk = np.shape(metrics[names[0]])[1]
    count = members.size * chunk
    out = {k: np.full(count, v, np.int64) for k, v in columns.items()}
    out["member"] = np.repeat(members, chunk)
    out["update"] = np.tile(
        first_update + np.arange(chunk, dtype=np.int64), members.size
    )
    for name in names:
        out[name] = np.asarray(metrics[name])[members].reshape(-1)
    return out


def write_scalars(sink, metrics, members, first_step: int) -> None:
    """Population scalars (max / median / mean finished-episode return, failed
    and episode counts) and each member's episode return, one TensorBoard
    step per update starting at `first_step`."""
    members = np.asarray(members, int)
    returns = np.asarray(metrics["episode_return"], float)[members]
    diverged = np.asarray(metrics["train/diverged"])[members]
    episodes = np.asarray(metrics["episodes"])[members]
    for u in range(returns.shape[1]):
        column = returns[:, u]
        values = {
            "population/failed": float(np.sum(diverged[:, u] > 0)),
            "population/episodes": float(np.sum(episodes[:, u])),
        }
        if np.isfinite(column).any():
            values["population/episode_return_max"] = np.nanmax(column)
            values["population/episode_return_median"] = np.nanmedian(column)
            values["population/episode_return_mean"] = np.nanmean(column)
        for m, value in zip(members, column, strict=True):
            values[f"member/{m:03d}/episode_return"] = value
        sink.scalars(first_step + u, values)


def latest_finite(curve) -> float:
    """The last finite value of `curve` (NaN if none)."""
    curve = np.asarray(curve, float)
    finite = curve[np.isfinite(curve)]
    return float(finite[-1]) if finite.size else float("nan")


def latest_return_postfix(metrics, members) -> dict:
    """Progress numbers of a chunk: the best and median latest
    finished-episode return over `members` and how many have failed."""
    returns = np.asarray(metrics["episode_return"], float)
    latest = np.array([latest_finite(returns[m]) for m in members])
    postfix = {}
    if np.isfinite(latest).any():
        postfix["train_best"] = float(np.nanmax(latest))
        postfix["train_median"] = float(np.nanmedian(latest))
    diverged = np.asarray(metrics["train/diverged"])[np.asarray(members, int), -1]
    postfix["failed"] = int(np.sum(diverged > 0))
    return postfix
