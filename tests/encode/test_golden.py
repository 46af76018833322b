"""Byte-for-byte agreement with clkhash 0.18.3 on every committed golden vector.

The vectors are produced by scripts/gen_golden.py, which runs clkhash itself in an
isolated virtualenv; a row clkhash refuses must be refused here too.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from linkage.encode import ClkEncoder, load_schema

pytestmark = pytest.mark.unit

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "golden"


def _cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for path in sorted(GOLDEN.glob("golden-*.json")):
        cases.extend(json.loads(path.read_text(encoding="utf-8"))["cases"])
    return cases


CASES = _cases()


def test_there_are_at_least_300_vectors_with_both_outcomes() -> None:
    expected = [item for case in CASES for item in case["expected"]]
    assert len(expected) >= 300
    assert any("error" in item for item in expected)
    assert sum("clk" in item for item in expected) >= 300


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_golden_case(case: dict[str, Any]) -> None:
    encoder = ClkEncoder(load_schema(case["schema"]), bytes.fromhex(case["secret_hex"]))
    # Row by row, as clkhash encoded them ...
    for row, expected in zip(case["rows"], case["expected"], strict=True):
        batch = encoder.encode_valid([row])
        if "error" in expected:
            assert batch.problems, f"clkhash refused a row ({expected['error']}) that we encoded"
            assert batch.clks.shape[0] == 0
        else:
            assert not batch.problems, batch.problems
            assert base64.b64encode(batch.clks[0].tobytes()).decode() == expected["clk"]
    # ... and as one batch on a fresh encoder (cold caches), valid rows in order.
    fresh = ClkEncoder(load_schema(case["schema"]), bytes.fromhex(case["secret_hex"]))
    batch = fresh.encode_valid(case["rows"])
    wanted = [item["clk"] for item in case["expected"] if "clk" in item]
    assert [base64.b64encode(c.tobytes()).decode() for c in batch.clks] == wanted
    assert len(batch.problems) == sum("error" in item for item in case["expected"])
