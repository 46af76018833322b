"""The SQLite store's event link lists: spelled as json.dumps spells them."""

from __future__ import annotations

import json
from enum import IntEnum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkage.store._sqlite_write import json_list

pytestmark = pytest.mark.unit


class _Small(IntEnum):
    ONE = 1


@given(st.lists(st.integers(min_value=-(2**80), max_value=2**80), max_size=12))
def test_int_lists_are_spelled_as_json_dumps_spells_them(values: list[int]) -> None:
    assert json_list(values) == json.dumps(values)


@pytest.mark.parametrize("values", [[True, 2], [1.5], ["a", 1], [_Small.ONE], [[1]]])
def test_other_lists_go_to_json_dumps(values: list[Any]) -> None:
    assert json_list(values) == json.dumps(values)
