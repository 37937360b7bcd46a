"""Between-run hyperparameter search: ask a population of configs, train all of
them vmapped, score them (higher is better), tell.

    init(key, meta_params) -> state
    ask(key, state, meta_params) -> (hparams_population, state)
    tell(key, hparams_population, scores, state, meta_params) -> (state, metrics)

Searchers work in the unconstrained coordinates of a `SearchSpace`; see
`jaxmeta.search.space` for the transforms and for static (categorical) choices.
By name: `jaxmeta.search.make("random" | "grid" | "evosax" | "bayes" |
"sam-hrl-hs", space, pop, ...)`.
"""

from jaxmeta.search.bayes import BayesSearch
from jaxmeta.search.evosax_adapter import EvosaxSearch
from jaxmeta.search.grid_search import GridSearch
from jaxmeta.search.hierarchical import HierarchicalSearch
from jaxmeta.search.random_search import RandomSearch
from jaxmeta.search.registry import make, register, registered_names
from jaxmeta.search.space import (
    Categorical,
    Logit,
    LogUniform,
    SearchSpace,
    Uniform,
)

__all__ = [
    "Categorical",
    "BayesSearch",
    "EvosaxSearch",
    "GridSearch",
    "HierarchicalSearch",
    "LogUniform",
    "Logit",
    "RandomSearch",
    "SearchSpace",
    "Uniform",
    "make",
    "register",
    "registered_names",
]
