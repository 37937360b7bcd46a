"""Shared type aliases.

Score convention, said once here: every score in jaxmeta is MAXIMISED. Searchers
receive scores where higher is better; the evosax adapter is the single place
that negates them (evosax minimises fitness).
"""

from typing import Any

import jax

Key = jax.Array
PyTree = Any
Array = jax.Array
# A flat dict of arrays; keys carry a `train/`, `eval/` or `meta/` prefix.
Metrics = dict[str, jax.Array]
# Higher is better.
Score = jax.Array
