"""Recurrent cores: stacked GRU or LSTM layers over a masked sequence.

A masked step leaves every layer's carry unchanged, so a fixed-length window
whose oldest rows are not yet filled (mask False) reads as the shorter
sequence of its valid rows.
"""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

CELLS = {"gru": nn.GRUCell, "lstm": nn.OptimizedLSTMCell}


def check_cell(name: str) -> None:
    """Raise ValueError naming `cell` unless `name` is a known recurrent cell."""
    if name not in CELLS:
        raise ValueError(f"cell must be one of {sorted(CELLS)}, got {name!r}")


def _hidden_of(carry):
    # GRUCell's carry is h; the LSTM cells' is (c, h).
    return carry[1] if isinstance(carry, tuple) else carry


class StackedRNN(nn.Module):
    """`len(hidden)` stacked recurrent layers (cell "gru" or "lstm").

    `inputs: [T, features]`, `mask: [T]` bool -> `[hidden[-1]]`: the top
    layer's hidden state after the last valid step (zeros when no step is
    valid). Layer i's outputs are layer i+1's inputs, step by step.
    """

    hidden: Sequence[int]
    cell: str = "gru"

    @nn.compact
    def __call__(self, inputs, mask):
        x = inputs
        carry = None
        for i, width in enumerate(self.hidden):
            cell = CELLS[self.cell](width, name=f"layer_{i}")
            carry = cell.initialize_carry(jax.random.key(0), x[0].shape)

            def step(cell, carry, row_and_valid):
                row, valid = row_and_valid
                new_carry, y = cell(carry, row)
                keep = jax.tree_util.tree_map(
                    lambda n, o: jnp.where(valid, n, o), new_carry, carry
                )
                return keep, y

            scan = nn.scan(
                step, variable_broadcast="params", split_rngs={"params": False}
            )
            carry, x = scan(cell, carry, (x, mask))
        return _hidden_of(carry)
