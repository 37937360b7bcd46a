"""Successive halving and Hyperband: the rung schedules and who survives a rung.

Successive halving (Jamieson & Talwalkar 2016, in the form Hyperband runs it)
starts `n` configs at a minimum budget `r` of updates; after rung i the best
`floor(n_i / eta)` go on, so rung i has

    n_i = floor(n * eta^-i)   members,   r_i = r * eta^i   updates in total,

for i = 0..k, where the budget runs from `min_budget` to `max_budget` =
`min_budget * eta^k`. Hyperband (Li et al. 2018) hedges over how aggressive
that is: brackets s = k, k-1, ..., 0, bracket s a successive halving that
starts at r_s = max_budget * eta^-s with

    n_s = ceil(population_size * (k + 1) / ((s + 1) * eta^(k - s)))

members (s = k has `population_size` of them). With population_size = eta^k
this is the paper's n = ceil((k + 1) eta^s / (s + 1)): R = 81, eta = 3 gives
the brackets (81, 34, 15, 8, 5 members) of its Table 1.

Budgets are integers: `max_budget` must be `min_budget * eta^k` (k >= 1), and
every rung must keep at least one member. Everything here is plain Python
except `survivor_order`, which runs in the jitted rung program.
"""

from typing import NamedTuple

import jax.numpy as jnp

from jaxmeta.types import Array

METHODS = ("successive-halving", "hyperband")


class Rung(NamedTuple):
    """One rung of a bracket: `members` trained to `budget` updates in total,
    of whom the best `keep` go on to the next rung (0 on the last)."""

    members: int
    budget: int
    keep: int


def _names(names: dict | None) -> dict:
    """The field names that messages use (the run layer passes its own)."""
    base = {n: n for n in ("eta", "min_budget", "max_budget", "population_size")}
    return {**base, **(names or {})}


def _check_int(name: str, value, low: int, allowed: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(
            f"{name} must be an int >= {low} (allowed: {allowed}), got {value!r}"
        )
    return value


def _power(ratio: int, eta: int) -> int | None:
    """k >= 0 with eta^k == ratio, or None."""
    k = 0
    while ratio % eta == 0 and ratio > 1:
        ratio //= eta
        k += 1
    return k if ratio == 1 else None


def num_halvings(
    population_size: int, min_budget: int, max_budget: int, eta: int, names=None
) -> int:
    """k of a schedule (max_budget = min_budget * eta^k), every number checked:
    eta an int >= 2, budgets positive ints, k >= 1, and population_size >=
    eta^k so that the last rung keeps a member. ValueError names the field and
    its allowed values."""
    n = _names(names)
    _check_int(n["eta"], eta, 2, "2, 3, 4, ...")
    _check_int(n["min_budget"], min_budget, 1, "a positive number of updates")
    _check_int(n["max_budget"], max_budget, 1, "a positive number of updates")
    _check_int(n["population_size"], population_size, 1, ">= 1")
    k = _power(max_budget // min_budget, eta) if max_budget % min_budget == 0 else None
    if k is None or k < 1:
        allowed = ", ".join(str(min_budget * eta**j) for j in range(1, 6))
        raise ValueError(
            f"the rung schedule does not fit the budget: {n['max_budget']} must "
            f"be {n['min_budget']} x eta^k with k >= 1 (min_budget={min_budget}, "
            f"eta={eta}; allowed: {allowed}, ...), got {max_budget}"
        )
    if population_size < eta**k:
        raise ValueError(
            f"{n['population_size']} must be >= eta^k = {eta**k} so that the last "
            f"of {k + 1} rungs (eta={eta}, budgets {min_budget}..{max_budget}) "
            f"keeps a member (allowed: >= {eta**k}, or a larger "
            f"{n['min_budget']}), got {population_size}"
        )
    return k


def successive_halving(
    population_size: int, min_budget: int, max_budget: int, eta: int, names=None
) -> tuple[Rung, ...]:
    """The k + 1 rungs of one successive halving from `population_size`
    members at `min_budget` updates to the survivors at `max_budget`."""
    k = num_halvings(population_size, min_budget, max_budget, eta, names)
    return _bracket(population_size, min_budget, k, eta)


def _bracket(members: int, min_budget: int, k: int, eta: int) -> tuple[Rung, ...]:
    sizes = [members // eta**i for i in range(k + 1)]
    return tuple(
        Rung(sizes[i], min_budget * eta**i, sizes[i + 1] if i < k else 0)
        for i in range(k + 1)
    )


def hyperband(
    population_size: int, min_budget: int, max_budget: int, eta: int, names=None
) -> tuple[tuple[Rung, ...], ...]:
    """Hyperband's k + 1 brackets, most exploratory first (s = k .. 0); each
    a tuple of rungs ending at `max_budget`."""
    k = num_halvings(population_size, min_budget, max_budget, eta, names)
    brackets = []
    for s in range(k, -1, -1):
        denominator = (s + 1) * eta ** (k - s)
        members = -(-(population_size * (k + 1)) // denominator)
        brackets.append(_bracket(members, min_budget * eta ** (k - s), s, eta))
    return tuple(brackets)


def brackets_of(
    method: str,
    population_size: int,
    min_budget: int,
    max_budget: int,
    eta: int,
    names=None,
) -> tuple[tuple[Rung, ...], ...]:
    """The brackets of `method` ("successive-halving": one bracket)."""
    if method == "successive-halving":
        return (
            successive_halving(population_size, min_budget, max_budget, eta, names),
        )
    if method == "hyperband":
        return hyperband(population_size, min_budget, max_budget, eta, names)
    raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")


def deepest_min_budget(
    population_size: int, max_budget: int, eta: int, granularity: int = 1
) -> int | None:
    """The smallest min_budget = max_budget / eta^k (k >= 1) that is a
    multiple of `granularity` (the chunk size) and leaves the last rung a
    member (eta^k <= population_size); None if there is none."""
    _check_int("eta", eta, 2, "2, 3, 4, ...")
    best = None
    k = 1
    while eta**k <= population_size and max_budget % eta**k == 0:
        if (max_budget // eta**k) % granularity == 0:
            best = max_budget // eta**k
        k += 1
    return best


def total_updates(brackets) -> int:
    """Member-updates a schedule trains (its cost in updates): each rung
    trains its members from the previous rung's budget to its own."""
    total = 0
    for rungs in brackets:
        done = 0
        for rung in rungs:
            total += rung.members * (rung.budget - done)
            done = rung.budget
    return total


def survivor_order(scores: Array, failed: Array, real: Array) -> Array:
    """Members ranked for promotion, best first: `[n] int32` indices.

    scores: [n] (higher is better); failed: [n] bool (diverged, or a
    non-finite evaluation); real: [n] bool (False for device padding). Finite,
    unfailed members come first by score, then failed or non-finite ones,
    then padding; ties keep the lower index (a stable sort), so the order is
    deterministic.
    """
    scores = jnp.asarray(scores, jnp.float32)
    healthy = real & ~failed & jnp.isfinite(scores)
    group = jnp.where(healthy, 0, jnp.where(real, 1, 2))
    key = jnp.where(healthy, -scores, 0.0)
    return jnp.lexsort((jnp.arange(scores.shape[0]), key, group)).astype(jnp.int32)


def promoted(order: Array, keep) -> Array:
    """`[n] bool`: the first `keep` members of `order` (traced `keep` is fine)."""
    ranks = (
        jnp.zeros(order.shape[0], jnp.int32)
        .at[order]
        .set(jnp.arange(order.shape[0], dtype=jnp.int32))
    )
    return ranks < keep


__all__ = [
    "METHODS",
    "Rung",
    "brackets_of",
    "deepest_min_budget",
    "hyperband",
    "num_halvings",
    "promoted",
    "successive_halving",
    "survivor_order",
    "total_updates",
]
