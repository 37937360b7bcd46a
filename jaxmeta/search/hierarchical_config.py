"""Static config of SAM-HRL-HS: its checks, and the hyperparameter groups
(which worker searches which dims).

A group is a named set of search-space dims searched by one worker. Without
explicit groups, every dim is placed by its name in `DEFAULT_GROUPS` (the
seed's optimisation / return / exploration split, over the hparams names of
jaxmeta's learners); a dim no group names goes to the catch-all group
`OTHER`, so a learner with unusual hparams still searches every dim. Groups
that claim no dim of the space are dropped; their order is that of
`DEFAULT_GROUPS`, then `OTHER`.

Explicit groups (`{"opt": ["learning_rate", "clip_eps"], "ret": ["gamma"]}`)
are taken as given, in the order given: every group must be non-empty, name
dims of the space, and no dim may be in two groups; a dim left out goes to
`OTHER`.

With fewer active workers than groups (`num_workers = K`), group g is searched
by worker g mod K: K = 1 is one worker over every dim.
"""

import jax.numpy as jnp

from jaxmeta.nets.recurrent import check_cell
from jaxmeta.search.base import check_searcher_config
from jaxmeta.types import Array
from jaxmeta.validation import unknown_name

DEFAULT_GROUPS = {
    "optimisation": (
        "learning_rate", "critic_learning_rate", "vf_learning_rate",
        "sac_learning_rate", "sac_critic_learning_rate", "max_grad_norm",
        "clip_eps", "max_kl", "cg_damping", "vf_coef", "tau", "weight_decay",
    ),
    "return": ("gamma", "gae_lambda"),
    "exploration": (
        "ent_coef", "epsilon", "eps_start", "eps_end", "eps_decay_fraction",
        "init_alpha", "target_entropy_scale", "sigma",
    ),
}  # fmt: skip
OTHER = "other"


def _explicit(groups, names: tuple[str, ...]) -> list[tuple[str, tuple[str, ...]]]:
    """Normalise a dict or sequence of (name, dims) pairs, checking it."""
    try:
        pairs = list(groups.items()) if isinstance(groups, dict) else list(groups)
        pairs = [(name, dims) for name, dims in pairs]
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"groups must be a table of group name -> list of dims, got {groups!r}"
        ) from err
    seen: dict[str, str] = {}
    out = []
    for name, dims in pairs:
        if not isinstance(name, str) or not name:
            raise ValueError(f"groups: a group name must be a string, got {name!r}")
        if isinstance(dims, str) or not hasattr(dims, "__iter__"):
            raise ValueError(
                f"groups.{name} must be a list of dims, got {dims!r}; allowed "
                f"dims: {', '.join(names)}"
            )
        dims = tuple(dims)
        if not dims:
            raise ValueError(
                f"groups.{name}: an empty worker group; allowed: a non-empty "
                f"list of dims from {', '.join(names)}"
            )
        for dim in dims:
            if dim not in names:
                raise unknown_name(f"dim in groups.{name}", dim, names)
            if dim in seen:
                raise ValueError(
                    f"groups: dim {dim!r} is in both {seen[dim]!r} and {name!r}; "
                    f"allowed: each dim in at most one group"
                )
            seen[dim] = name
        out.append((name, dims))
    if len({name for name, _ in out}) != len(out):
        raise ValueError(f"groups: group names must be distinct, got {groups!r}")
    return out


def assign_groups(groups, names: tuple[str, ...]) -> tuple:
    """The worker groups over the space's dim `names`: a tuple of
    `(group name, dims)` pairs covering every dim once (module doc). `groups`
    is None (the default table) or explicit groups; ValueError on bad input."""
    if groups is None:
        table = list(DEFAULT_GROUPS.items())
    else:
        table = _explicit(groups, names)
    claimed = {dim for _, dims in table for dim in dims}
    out = [
        (name, tuple(d for d in names if d in dims))
        for name, dims in table
        if any(d in dims for d in names)
    ]
    rest = tuple(d for d in names if d not in claimed)
    if rest:
        if OTHER in dict(out):
            raise ValueError(
                f"groups: {OTHER!r} is the catch-all of unclaimed dims "
                f"({', '.join(rest)}); name every dim or rename that group"
            )
        out.append((OTHER, rest))
    return tuple(out)


def group_of_dim(groups: tuple, names: tuple[str, ...]) -> tuple[int, ...]:
    """`[dim]` index of each dim's group, for `assign_groups` output."""
    index = {dim: g for g, (_, dims) in enumerate(groups) for dim in dims}
    return tuple(index[d] for d in names)


def owned_dims(group_index: Array, worker: Array, num_workers: Array) -> Array:
    """Which dims each chosen worker searches.

    group_index: [dim] int (`group_of_dim`); worker: [pop] int chosen workers;
    num_workers: [] int active workers K (group g -> worker g mod K).
    Returns [pop, dim] bool.
    """
    owner = jnp.asarray(group_index) % jnp.maximum(num_workers, 1)
    return owner[None, :] == worker[:, None]


def _positive_ints(name: str, value, allow_empty: bool) -> tuple[int, ...]:
    value = tuple(value) if isinstance(value, list | tuple) else value
    if (
        not isinstance(value, tuple)
        or (not value and not allow_empty)
        or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value)
    ):
        allowed = "a list of ints >= 1" + ("" if allow_empty else ", non-empty")
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return value


def _granularities(value) -> tuple[float, ...]:
    levels = tuple(value) if isinstance(value, list | tuple) else value
    if not isinstance(levels, tuple) or not levels:
        raise ValueError(
            f"granularities must be a non-empty list of numbers in (0, 1], "
            f"got {value!r}"
        )
    for g in levels:
        if isinstance(g, bool) or not isinstance(g, int | float) or not 0 < g <= 1:
            raise ValueError(
                f"granularities must lie in (0, 1] (allowed: 0 < g <= 1), got {g!r}"
            )
    return tuple(float(g) for g in levels)


def checked_config(searcher) -> dict:
    """Check a `HierarchicalSearch`'s fields in plain Python (ValueError naming
    the field and its allowed values); returns the normalised ones (groups as
    `assign_groups` pairs, tuples for lists)."""
    check_searcher_config(searcher.space, searcher.population_size)
    names = searcher.space.names
    if not names:
        raise ValueError(
            "space must have at least one continuous dim for HierarchicalSearch"
        )
    out = {"groups": assign_groups(searcher.groups, names)}
    count, k = len(out["groups"]), searcher.num_workers
    if k is not None and (isinstance(k, bool) or not isinstance(k, int)):
        raise ValueError(f"num_workers must be an int or None, got {k!r}")
    if k is not None and not 1 <= k <= count:
        raise ValueError(
            f"num_workers must lie in [1, {count}] (one worker per group at "
            f"most; groups: {', '.join(g for g, _ in out['groups'])}), got {k!r}"
        )
    out["granularities"] = _granularities(searcher.granularities)
    history = searcher.history
    if isinstance(history, bool) or not isinstance(history, int) or history < 1:
        raise ValueError(f"history must be an int >= 1, got {history!r}")
    for name, empty in (("manager_hidden", False), ("worker_hidden", True)):
        out[name] = _positive_ints(name, getattr(searcher, name), empty)
    check_cell(searcher.cell)
    for name in ("manager_learning_rate", "worker_learning_rate"):
        if not getattr(searcher, name) > 0:
            raise ValueError(f"{name} must be > 0, got {getattr(searcher, name)!r}")
    if not searcher.entropy_coef >= 0:
        raise ValueError(f"entropy_coef must be >= 0, got {searcher.entropy_coef!r}")
    if not 0 <= searcher.baseline_decay < 1:
        raise ValueError(
            f"baseline_decay must lie in [0, 1), got {searcher.baseline_decay!r}"
        )
    return out
