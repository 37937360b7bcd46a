"""Fast adaptation to new tasks: the MAML family (meta-gradients through
inner updates) and, registered beside it, RL^2. See docs/maml.md and the
"Adapt" section of docs/architecture.md for the contract."""

from jaxmeta.adapt.base import MetaState, meta_train, meta_train_from
from jaxmeta.adapt.registry import get, make_adapter, register, registered_names

__all__ = [
    "MetaState",
    "get",
    "make_adapter",
    "meta_train",
    "meta_train_from",
    "register",
    "registered_names",
]
