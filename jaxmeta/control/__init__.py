"""Within-run control: controllers set a learner's hparams every update.

`Controlled(learner, controller)` is itself a learner (see `control.base`);
fixed schedules are in `control.schedules`, population-based training in
`control.pbt`, BiERL's meta-learned controller in `control.bierl`.
"""

from jaxmeta.control.base import Controlled, ControlledHParams, ControlledState
from jaxmeta.control.registry import make_controller, registered_names
from jaxmeta.control.schedules import (
    Constant,
    CosineSchedule,
    LinearSchedule,
    StepSchedule,
    UniformRandom,
)

__all__ = [
    "Constant",
    "Controlled",
    "ControlledHParams",
    "ControlledState",
    "CosineSchedule",
    "LinearSchedule",
    "StepSchedule",
    "UniformRandom",
    "make_controller",
    "registered_names",
]
