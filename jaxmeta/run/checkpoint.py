"""Checkpoints of a run: the whole state pytree and the host record, with orbax.

`RUN_DIR/checkpoints/<chunk>/` holds `state` (every leaf of the state, as host
NumPy arrays, so a checkpoint does not depend on how the state was sharded) and
`host` (JSON: the experiment's host record, the chunk to continue from, the
sizes of the result files at that point and the last TensorBoard step). orbax
writes each checkpoint to a temporary directory and renames it when complete,
so a kill mid-save leaves the previous checkpoints intact; the newest `keep`
stay on disk. A checkpoint that cannot be read back falls back to the one
before it, with a warning, and is renamed `<step>.unreadable` (kept for a
look, out of the way of the resumed run).
"""

import math
import os
import warnings

import jax
import numpy as np
import orbax.checkpoint as ocp


class Checkpointer:
    """Save and restore checkpoints under `run_dir/checkpoints`."""

    def __init__(self, run_dir: str, keep: int):
        self.directory = os.path.join(os.path.abspath(run_dir), "checkpoints")
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(
                max_to_keep=keep, enable_async_checkpointing=False, create=True
            ),
        )

    def save(self, step: int, state, saved: dict) -> None:
        """Write checkpoint `step`: `state` a pytree of NumPy arrays (the same
        on every process), `saved` a JSON-able dict."""
        leaves = [np.asarray(x) for x in jax.tree_util.tree_leaves(state)]
        # orbax refuses empty arrays; their shape alone restores them.
        arrays = {f"{i:05d}": x for i, x in enumerate(leaves) if x.size}
        self._manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(arrays), host=ocp.args.JsonSave(saved)
            ),
            force=True,
        )
        self._manager.wait_until_finished()

    def steps(self) -> list[int]:
        """The steps of the complete checkpoints on disk, newest first."""
        self._manager.reload()
        return sorted(self._manager.all_steps(), reverse=True)

    def restore_latest(self, abstract_state):
        """The newest checkpoint that reads back and matches the state's
        structure, as `(state, saved)`: state a pytree of NumPy arrays shaped
        like `abstract_state()` (called lazily; a pytree of ShapeDtypeStructs).
        Returns None when there is no checkpoint; raises ValueError when none
        of them can be read."""
        steps = self.steps()
        if not steps:
            return None
        abstract = abstract_state()
        shapes, treedef = jax.tree_util.tree_flatten(abstract)
        target = {
            f"{i:05d}": np.zeros(s.shape, s.dtype)
            for i, s in enumerate(shapes)
            if math.prod(s.shape)
        }
        errors = []
        for step in steps:
            try:
                restored = self._manager.restore(
                    step,
                    args=ocp.args.Composite(
                        state=ocp.args.StandardRestore(target),
                        host=ocp.args.JsonRestore(),
                    ),
                )
                arrays = restored.state
                leaves = [
                    np.asarray(arrays[f"{i:05d}"])
                    if f"{i:05d}" in target
                    else np.zeros(s.shape, s.dtype)
                    for i, s in enumerate(shapes)
                ]
                _check_leaves(leaves, shapes)
                saved = dict(restored.host)
                if saved.get("chunk") != step:
                    raise ValueError(f"host record says chunk {saved.get('chunk')}")
            except Exception as err:  # noqa: BLE001 - any unreadable checkpoint
                errors.append(f"{step}: {type(err).__name__}: {err}")
                warnings.warn(
                    f"checkpoint {step} in {self.directory} cannot be read "
                    f"({type(err).__name__}: {str(err)[:200]}); trying the one "
                    f"before it",
                    stacklevel=2,
                )
                continue
            self._set_aside([int(e.split(":")[0]) for e in errors])
            return jax.tree_util.tree_unflatten(treedef, leaves), saved
        raise ValueError(
            f"no readable checkpoint in {self.directory}: " + "; ".join(errors)
        )

    def _set_aside(self, steps) -> None:
        """Rename unreadable checkpoints newer than the one resumed from (to
        `<step>.unreadable`), so the resumed run can write those steps again."""
        if not steps or jax.process_index() != 0:
            return
        for step in steps:
            path = os.path.join(self.directory, str(step))
            target, n = f"{path}.unreadable", 0
            while os.path.exists(target):
                n += 1
                target = f"{path}.unreadable-{n}"
            os.rename(path, target)
        self._manager.reload()

    def size_of_latest(self) -> int:
        """Bytes on disk of the newest checkpoint (0 if none)."""
        steps = self.steps()
        if not steps:
            return 0
        root = os.path.join(self.directory, str(steps[0]))
        return sum(
            os.path.getsize(os.path.join(folder, name))
            for folder, _, names in os.walk(root)
            for name in names
        )


def _check_leaves(leaves, shapes) -> None:
    for i, (leaf, shape) in enumerate(zip(leaves, shapes, strict=True)):
        if leaf.shape != tuple(shape.shape) or leaf.dtype != shape.dtype:
            raise ValueError(
                f"leaf {i} is {leaf.dtype}{list(leaf.shape)}, the run's state "
                f"needs {shape.dtype}{list(shape.shape)}"
            )
