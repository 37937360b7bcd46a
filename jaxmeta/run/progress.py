"""The progress bar of a run (tqdm: chunks done, ETA, headline numbers)."""

from tqdm.auto import tqdm


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class Progress:
    """A tqdm bar over a run's chunks. `update(done, postfix, headline)` shows
    the experiment's numbers, the headline first; `write` prints a line above
    the bar (failures, round summaries)."""

    def __init__(self, total_chunks: int, desc: str, disable: bool = False):
        self.disable = disable
        self.bar = tqdm(total=total_chunks, desc=desc, unit="chunk", disable=disable)

    def start(self, done: int) -> None:
        """Resume display at `done` chunks (ETA counts from here)."""
        if done:
            self.bar.update(done)
            self.bar.reset(total=self.bar.total)
            self.bar.update(done)

    def update(self, done: int, postfix: dict, headline: str = "") -> None:
        shown = {k: v for k, v in postfix.items() if k != "messages"}
        order = sorted(shown, key=lambda k: (k != headline, list(shown).index(k)))
        self.bar.set_postfix({k: _format(shown[k]) for k in order}, refresh=False)
        self.bar.update(done - self.bar.n)

    def write(self, line: str) -> None:
        if not self.disable:
            self.bar.write(line)

    def close(self) -> None:
        self.bar.close()
