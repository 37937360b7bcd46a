"""TensorBoard event files (tensorboardX, the optional `tensorboard` extra).

Without tensorboardX installed a run still works: one warning, no event files.
A resumed run opens its writer with `purge_step` = the first step after its
checkpoint, so TensorBoard hides the steps that the killed run wrote after it.
"""

import warnings


def open_writer(logdir: str, purge_step: int):
    """A tensorboardX `SummaryWriter` on `logdir`, or None without tensorboardX."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        warnings.warn(
            "tensorboardX is not installed (pip install 'jaxmeta[tensorboard]'): "
            "no TensorBoard event files for this run",
            stacklevel=3,
        )
        return None
    return SummaryWriter(logdir=logdir, purge_step=purge_step or None, flush_secs=30)
