"""Successive halving and Hyperband schedules (Li et al. 2018) and who
survives a rung: plain arithmetic, bad schedules refused with the field and
its allowed values, and a deterministic ranking with failed members last."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.search.successive_halving import (
    Rung,
    brackets_of,
    deepest_min_budget,
    hyperband,
    promoted,
    successive_halving,
    survivor_order,
    total_updates,
)


def test_successive_halving_rungs_for_known_eta():
    assert successive_halving(81, 1, 81, 3) == (
        Rung(81, 1, 27), Rung(27, 3, 9), Rung(9, 9, 3), Rung(3, 27, 1),
        Rung(1, 81, 0),
    )  # fmt: skip
    # n_i = floor(n eta^-i), the survivors of rung i are rung i + 1.
    assert successive_halving(10, 1, 9, 3) == (
        Rung(10, 1, 3), Rung(3, 3, 1), Rung(1, 9, 0),
    )  # fmt: skip
    assert successive_halving(8, 2, 8, 2) == (
        Rung(8, 2, 4), Rung(4, 4, 2), Rung(2, 8, 0),
    )  # fmt: skip
    # Survivors train on from their budget: 8 x 2 + 4 x 2 + 2 x 4 updates.
    assert total_updates(brackets_of("successive-halving", 8, 2, 8, 2)) == 32


def test_hyperband_brackets_as_in_li_et_al_2018_table_1():
    # R = 81, eta = 3: five brackets, (n_i, r_i) as in the paper's table.
    table = [
        [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
        [(34, 3), (11, 9), (3, 27), (1, 81)],
        [(15, 9), (5, 27), (1, 81)],
        [(8, 27), (2, 81)],
        [(5, 81)],
    ]
    brackets = hyperband(81, 1, 81, 3)
    assert [[(r.members, r.budget) for r in b] for b in brackets] == table
    for rungs in brackets:
        keeps = [r.keep for r in rungs]
        assert keeps == [r.members for r in rungs[1:]] + [0]
    # population_size scales the brackets: s = k always starts it whole.
    small = hyperband(4, 2, 8, 2)
    assert [[(r.members, r.budget) for r in b] for b in small] == [
        [(4, 2), (2, 4), (1, 8)],
        [(3, 4), (1, 8)],
        [(3, 8)],
    ]


@pytest.mark.parametrize(
    "args, match",
    [
        ((8, 2, 8, 1), r"eta must be an int >= 2 \(allowed: 2, 3, 4, ...\), got 1"),
        ((8, 2, 8, 2.5), r"eta must be an int >= 2"),
        ((8, 0, 8, 2), r"min_budget must be an int >= 1"),
        ((8, 2, 10, 2), r"does not fit the budget: max_budget must be min_budget "
                        r"x eta\^k with k >= 1 .*allowed: 4, 8, 16"),
        ((8, 8, 8, 2), r"does not fit the budget"),
        ((8, 3, 2, 2), r"does not fit the budget"),
        ((3, 2, 8, 2), r"population_size must be >= eta\^k = 4 .*got 3"),
    ],
)  # fmt: skip
def test_bad_schedules_are_refused_with_the_field_and_allowed_values(args, match):
    for method in ("successive-halving", "hyperband"):
        with pytest.raises(ValueError, match=match):
            brackets_of(method, *args)


def test_messages_use_the_callers_field_names():
    names = {"max_budget": "num_updates", "eta": "searcher_config.eta"}
    with pytest.raises(ValueError, match=r"searcher_config.eta must be an int"):
        successive_halving(8, 2, 8, 1, names)
    with pytest.raises(ValueError, match=r"num_updates must be min_budget x eta"):
        successive_halving(8, 2, 12, 2, names)
    with pytest.raises(ValueError, match=r"method must be one of"):
        brackets_of("bohb", 8, 2, 8, 2)


def test_deepest_min_budget():
    assert deepest_min_budget(81, 81, 3) == 1
    assert deepest_min_budget(32, 81, 3) == 3  # 3^3 = 27 <= 32 < 81
    assert deepest_min_budget(4, 8, 2, granularity=2) == 2
    assert deepest_min_budget(8, 100, 3) is None
    with pytest.raises(ValueError, match="eta must be an int >= 2"):
        deepest_min_budget(8, 8, 1)


def test_survivors_best_first_failed_and_padding_last_ties_by_index():
    scores = jnp.array([1.0, 3.0, jnp.nan, 3.0, 2.0, 9.0, 5.0, -jnp.inf])
    failed = jnp.array([0, 0, 0, 0, 0, 1, 0, 0], bool)
    real = jnp.array([1, 1, 1, 1, 1, 1, 0, 1], bool)
    order = np.asarray(survivor_order(scores, failed, real))
    # Finite by score (the tie 1 / 3 by index), then NaN, failed and -inf
    # members by index, then the padding row (6) whatever its score.
    np.testing.assert_array_equal(order, [1, 3, 4, 0, 2, 5, 7, 6])
    np.testing.assert_array_equal(
        np.asarray(promoted(order, 3)), [0, 1, 0, 1, 1, 0, 0, 0]
    )
    assert not np.asarray(promoted(order, 0)).any()
