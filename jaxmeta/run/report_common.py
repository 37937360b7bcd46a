"""Host-side pieces the comparison experiments' reports share: the mean
training return of a chunk's finished episodes, a mean ± 95 % CI band
over seeds, and writing results.csv, table.md and the figure."""

import numpy as np

from jaxmeta.score.stats import mean_ci


def chunk_return(returns, counts):
    """Mean return over the episodes that ended in a chunk, per agent (NaN
    where none did): returns, counts [agents, updates] -> [agents]."""
    returns, counts = np.asarray(returns, float), np.asarray(counts, float)
    total = np.nansum(np.where(counts > 0, returns * counts, 0.0), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / counts.sum(axis=1)


def ci_band(ax, x, values, color, label, ls="-", clip=None):
    """Plot the mean over seeds of `values` [len(x), seeds] (NaNs left out)
    with its 95 % CI (the tables' `mean_ci`; none for one seed) as a band,
    clipped to `clip` = (low, high) if given."""
    stats = [mean_ci(row) for row in np.asarray(values, float)]
    mean = np.array([m for m, _, _ in stats], float)
    half = np.array([h if n > 1 else 0.0 for _, h, n in stats], float)
    low, high = mean - half, mean + half
    if clip is not None:
        low, high = np.clip(low, *clip), np.clip(high, *clip)
    ax.plot(x, mean, color=color, ls=ls, label=label)
    ax.fill_between(x, low, high, color=color, alpha=0.2)


def write_results(sink, rows, table_text: str, figure: str, plot, size) -> None:
    """results.csv (`rows`), table.md (`table_text`) and the figure
    `figure` drawn by `plot(fig)` at `size` inches; nothing without rows."""
    if not rows:
        return
    sink.write_csv("results.csv", rows)
    sink.write_text("table.md", table_text)
    sink.figure(figure, plot, size)
