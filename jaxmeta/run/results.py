"""Result files of a run directory, written as the run goes.

`ResultSink` is what an experiment's `report` writes to:
  append(name, rows)    rows of an append-only CSV (header from the first row);
                        flushed after every chunk, so a kill loses at most the
                        chunk in flight. On resume each such file is cut back to
                        its size at the checkpoint, so no row is duplicated.
  write_json(name, x)   a small file replaced atomically (best config, ...).
  write_csv(name, rows) a whole CSV replaced atomically (members.csv, ...).
  figure(name, draw)    a PNG drawn by `draw(fig)`, replaced atomically.
  scalars(step, dict)   TensorBoard scalars (optional, see `run.tensorboard`).
Only the primary process (process 0) writes; the others keep counting.
"""

import csv
import io
import json
import os
import re

import numpy as np

from jaxmeta.run.sharding import is_primary

RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def to_jsonable(value):
    """Numbers and arrays to plain Python for json."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        arr = np.asarray(value)
        return arr.item() if arr.ndim == 0 else arr.tolist()
    if isinstance(value, np.floating | np.integer | np.bool_):
        return value.item()
    return value


def _replace(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json(path: str, data) -> None:
    """Write `data` as indented JSON, atomically."""
    text = json.dumps(to_jsonable(data), indent=2, allow_nan=True)
    _replace(path, text.encode())


def _cell(value) -> str:
    value = to_jsonable(value)
    if isinstance(value, float):
        return f"{value:.9g}"
    return "" if value is None else str(value)


def csv_text(rows: list[dict], columns: list[str] | None = None) -> str:
    """Rows as CSV text (floats with 9 significant digits)."""
    columns = columns or list(rows[0])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


def columns_text(columns: dict) -> str:
    """Equal-length columns `{name: [n] array}` as CSV lines (no header):
    integers as integers, everything else with 9 significant digits, as
    `csv_text` writes them, in one format string per row."""
    arrays = [np.asarray(c) for c in columns.values()]
    formats = [
        "%d" if np.issubdtype(a.dtype, np.integer) or a.dtype == bool else "%.9g"
        for a in arrays
    ]
    row = ",".join(formats)
    values = zip(*(a.tolist() for a in arrays), strict=True)
    return "".join(f"{row % v}\n" for v in values)


class ResultSink:
    """The files of `run_dir`. offsets: byte sizes of the append-only CSVs to
    cut back to (resume); tb_step: the last TensorBoard step already written
    (-1: none)."""

    def __init__(self, run_dir: str, options, offsets: dict, tb_step: int):
        self.run_dir = run_dir
        self.primary = is_primary()
        self.tb_step = int(tb_step)
        self._sizes = dict(offsets)
        self._columns = {}
        self._files = {}
        if self.primary:
            for name, size in offsets.items():
                path = os.path.join(run_dir, name)
                if os.path.exists(path):
                    with open(path, "r+b") as f:
                        f.truncate(size)
        self._tb = None
        if options.tensorboard and self.primary:
            from jaxmeta.run.tensorboard import open_writer

            self._tb = open_writer(os.path.join(run_dir, "tensorboard"), tb_step + 1)

    def path(self, name: str) -> str:
        return os.path.join(self.run_dir, name)

    def append(self, name: str, rows) -> None:
        """Append `rows` to the CSV `name`: a list of dicts, or a dict of
        equal-length columns (the fast path for metrics). The first rows ever
        appended fix the columns (a file cut back to 0 bytes gets its header
        again)."""
        if not len(rows):
            return
        columns = list(rows) if isinstance(rows, dict) else list(rows[0])
        if name not in self._columns:
            self._columns[name] = columns
        if columns != self._columns[name]:
            raise ValueError(f"{name}: columns {columns} != {self._columns[name]}")
        if not self.primary:
            return
        handle = self._files.get(name)
        if handle is None:
            path = self.path(name)
            if self._sizes.get(name, 0) == 0 and os.path.exists(path):
                os.truncate(path, 0)
            handle = self._files[name] = open(path, "a", newline="")
            if handle.tell() == 0:
                handle.write(csv_text([], self._columns[name]))
        if isinstance(rows, dict):
            handle.write(columns_text(rows))
        else:
            text = csv_text(rows, self._columns[name])
            handle.write(text[text.index("\n") + 1 :])

    def flush(self) -> None:
        """Make everything appended so far durable."""
        for name, handle in self._files.items():
            handle.flush()
            os.fsync(handle.fileno())
            self._sizes[name] = handle.tell()
        if self._tb is not None:
            self._tb.flush()

    def offsets(self) -> dict:
        """Byte size of each append-only CSV (after `flush`)."""
        return dict(self._sizes)

    def write_json(self, name: str, data) -> None:
        if self.primary:
            write_json(self.path(name), data)

    def write_csv(self, name: str, rows: list[dict], columns=None) -> None:
        if self.primary and rows:
            _replace(self.path(name), csv_text(rows, columns).encode())

    def write_text(self, name: str, text: str) -> None:
        if self.primary:
            _replace(self.path(name), text.encode())

    def figure(self, name: str, draw, size=(7, 4)) -> None:
        """`draw(fig)` onto a new matplotlib figure saved as PNG `name`."""
        if not self.primary:
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=size)
        try:
            draw(fig)
            fig.tight_layout()
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=100)
        finally:
            plt.close(fig)
        _replace(self.path(name), buffer.getvalue())

    def scalars(self, step: int, values: dict) -> None:
        """TensorBoard scalars `{tag: number}` at `step` (NaN skipped), as
        one event: a summary per tag would cost a queue round trip each."""
        self.tb_step = max(self.tb_step, int(step))
        if self._tb is None:
            return
        from tensorboardX.proto.summary_pb2 import Summary

        summary = Summary(
            value=[
                Summary.Value(tag=tag, simple_value=float(value))
                for tag, value in values.items()
                if np.isfinite(float(value))
            ]
        )
        self._tb._get_file_writer().add_summary(summary, int(step))

    def close(self) -> None:
        self.flush()
        for handle in self._files.values():
            handle.close()
        self._files = {}
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def check_run_name(name) -> str:
    """A run name is one path component: letters, digits, '.', '_', '-', not
    starting with '.' or '-' (so it never leaves the run root)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {name!r}")
    if not RUN_NAME.fullmatch(name) or ".." in name:
        raise ValueError(
            f"name must be one path component of letters, digits, '.', '_' and "
            f"'-' (not starting with '.' or '-', no '..'), got {name!r}"
        )
    return name


def make_run_dir(root: str, name: str) -> str:
    """A fresh directory `root/name-N` (N the first unused integer). With
    several processes, every process gets the same path and process 0 makes it."""
    import jax
    from jax.experimental import multihost_utils

    check_run_name(name)
    n = 0
    while os.path.exists(os.path.join(root, f"{name}-{n}")):
        n += 1
    path = os.path.join(root, f"{name}-{n}")
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(f"jaxmeta run dir {path}")
    if is_primary():
        os.makedirs(path)
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(f"jaxmeta made {path}")
    return path
