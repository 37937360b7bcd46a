"""`validation.coerce` on fixed-length tuple fields: values come back (not
their types), each checked against its own position's type."""

import pytest

from jaxmeta.validation import coerce


def test_fixed_length_tuples_keep_their_values_and_check_each_position():
    assert coerce("goal", [7, 9], tuple[int, int]) == (7, 9)
    assert coerce("pair", [1, 2.5], tuple[int, float]) == (1, 2.5)
    with pytest.raises(TypeError, match=r"pair\[1\] must be an int"):
        coerce("pair", [1, "a"], tuple[int, int])
    with pytest.raises(TypeError, match="must be a list of 2 values"):
        coerce("pair", [1, 2, 3], tuple[int, int])
