"""Progress reporting between compiled chunks (a tqdm bar with ETA)."""

import numpy as np
from tqdm.auto import tqdm


class ProgressBar:
    """A `progress_fn(step, metrics)` showing updates done, ETA and returns.

    metrics: host arrays `[pop, chunk]`; the bar shows the population's best and
    median latest finished-episode return.
    """

    def __init__(self, total_updates: int, desc: str = "train", disable=False):
        self.bar = tqdm(total=total_updates, desc=desc, unit="upd", disable=disable)
        self.done = 0

    def __call__(self, step: int, metrics: dict) -> None:
        returns = np.asarray(metrics["episode_return"], float)
        latest = np.full(returns.shape[0], np.nan)
        for i, row in enumerate(returns):
            finite = row[np.isfinite(row)]
            if finite.size:
                latest[i] = finite[-1]
        if np.isfinite(latest).any():
            self.bar.set_postfix(
                best=f"{np.nanmax(latest):.1f}", median=f"{np.nanmedian(latest):.1f}"
            )
        self.bar.update(step - self.done)
        self.done = step

    def close(self) -> None:
        self.bar.close()
