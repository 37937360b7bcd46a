"""The schedule of a multi-fidelity tune run (`run.multi_fidelity`): its
`searcher_config` fields, the brackets they give, and where each driver chunk
falls in them. Every check runs here, in plain Python, before anything
compiles; messages name the tune config's fields."""

import dataclasses

from jaxmeta.run.tune_config import TuneConfig
from jaxmeta.search import registered_names
from jaxmeta.search.successive_halving import (
    METHODS,
    brackets_of,
    deepest_min_budget,
)
from jaxmeta.validation import checked_fields, unknown_name

# How the schedule's fields are named in a tune config, for error messages.
FIELD_NAMES = {
    "eta": "searcher_config.eta",
    "min_budget": "searcher_config.min_budget",
    "max_budget": "num_updates",
    "population_size": "population_size",
}


@dataclasses.dataclass(frozen=True)
class MultiFidelityOptions:
    """`searcher_config` of a multi-fidelity run: eta (the halving rate, an int
    >= 2), min_budget (updates of the first rung; default the smallest
    num_updates / eta^k that chunk_size divides and population_size can
    halve k times), sampler (the ask/tell searcher that proposes each
    bracket's configs) and its sampler_config."""

    eta: int = 3
    min_budget: int | None = None
    sampler: str = "random"
    sampler_config: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.sampler_config, dict):
            raise TypeError(
                f"searcher_config.sampler_config must be a table of "
                f"fields, got {self.sampler_config!r}"
            )
        if self.sampler in METHODS or self.sampler not in registered_names():
            raise unknown_name(
                "searcher_config.sampler", self.sampler, registered_names()
            )


@dataclasses.dataclass(frozen=True)
class Chunk:
    """Where chunk c of the run falls in the schedule."""

    round: int
    bracket: int
    rung: int
    first_update: int  # of the member's training, at the chunk's start
    begin: bool  # the bracket's first chunk
    end: bool  # the rung's last chunk


def slot_name(size: int) -> str:
    """The state key of the population of (padded) size `size`."""
    return f"members_{size:06d}"


def schedule(config: TuneConfig):
    """`(options, brackets)` of a multi-fidelity tune config: its
    searcher_config checked and the brackets of rungs it runs."""
    options = MultiFidelityOptions(
        **checked_fields(
            MultiFidelityOptions, config.searcher_config, "searcher_config"
        )
    )
    eta, chunk = options.eta, config.chunk_size
    if isinstance(eta, int) and eta >= 2 and options.min_budget is None:
        min_budget = deepest_min_budget(
            config.population_size, config.num_updates, eta, chunk
        )
        if min_budget is None:
            raise ValueError(
                f"the rung schedule does not fit the budget: no min_budget = "
                f"num_updates / eta^k (k >= 1) is a multiple of chunk_size "
                f"({chunk}) with eta^k <= population_size "
                f"({config.population_size}); got num_updates={config.num_updates}, "
                f"eta={eta} (allowed num_updates: chunk_size x eta^k, e.g. "
                f"{', '.join(str(chunk * eta**k) for k in range(1, 5))})"
            )
    else:
        min_budget = options.min_budget
    brackets = brackets_of(
        config.searcher,
        config.population_size,
        min_budget,
        config.num_updates,
        eta,
        FIELD_NAMES,
    )
    if min_budget % chunk:
        divisors = [d for d in range(1, min_budget + 1) if min_budget % d == 0]
        raise ValueError(
            f"chunk_size ({chunk}) must divide searcher_config.min_budget "
            f"({min_budget}) so every rung trains whole chunks; allowed values: "
            f"{', '.join(map(str, divisors[:16]))}"
        )
    return options, brackets


def plan(brackets, rounds: int, chunk_size: int) -> list[Chunk]:
    """Every driver chunk of the run in order: rounds x brackets x rungs x
    the rung's chunks (its budget increment / chunk_size)."""
    chunks = []
    for round_index in range(rounds):
        for b, rungs in enumerate(brackets):
            done = 0
            for i, rung in enumerate(rungs):
                count = (rung.budget - done) // chunk_size
                for c in range(count):
                    chunks.append(
                        Chunk(
                            round_index,
                            b,
                            i,
                            done + c * chunk_size,
                            i == 0 and c == 0,
                            c == count - 1,
                        )
                    )
                done = rung.budget
    return chunks
