"""Summaries across seeds for result tables: mean and t-based confidence
intervals (host NumPy; scipy for the t quantile)."""

import numpy as np


def mean_ci(values, level: float = 0.95) -> tuple[float, float, int]:
    """`(mean, half_width, n)` of the finite `values`: the half width of the
    two-sided Student-t interval at `level` (NaN with fewer than 2 values)."""
    from scipy import stats

    x = np.asarray(values, float)
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return float("nan"), float("nan"), 0
    if n == 1:
        return float(x[0]), float("nan"), 1
    half = stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / np.sqrt(n)
    return float(x.mean()), float(half), n


def format_ci(values, level: float = 0.95, digits: int = 1) -> str:
    """'mean ± half' (or 'mean' for one value, 'n/a' for none)."""
    mean, half, n = mean_ci(values, level)
    if n == 0:
        return "n/a"
    if n == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {half:.{digits}f}"
