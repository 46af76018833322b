"""The trusted-heads file format shared by the agency client and linkage-admin."""

from __future__ import annotations

import pytest

from linkage.audit_heads import AuditHead, format_audit_head, parse_audit_heads
from linkage.errors import InvalidInputError

HEAD = AuditHead(1234, bytes(range(32)))


def test_a_head_round_trips_through_its_line() -> None:
    line = format_audit_head(HEAD)
    assert line == (
        '{"entry_hash":"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",'
        '"format":"coresponder-audit-head/v1","sequence":1234}'
    )
    assert parse_audit_heads(["# kept by valley-mhc", "", line], "heads.jsonl") == [HEAD]


def test_every_bad_line_is_named_by_its_number_never_by_its_content() -> None:
    good = format_audit_head(HEAD)
    lines = [
        good,
        "secret-looking text",
        good.replace("1234", "-1"),
        good.replace("0001", "zz01"),
        good.replace("/v1", "/v9"),
        '{"sequence": 1}',
    ]
    with pytest.raises(InvalidInputError) as caught:
        parse_audit_heads(lines, "heads.jsonl")
    assert [(p.location, p.reason) for p in caught.value.problems] == [
        ("heads.jsonl line 2", "is not a JSON object"),
        ("heads.jsonl line 3: sequence", "must be a positive integer"),
        ("heads.jsonl line 4: entry_hash", "must be 64 lower-case hex characters"),
        ("heads.jsonl line 5: format", "must be coresponder-audit-head/v1"),
        ("heads.jsonl line 6", "must hold exactly entry_hash, format and sequence"),
    ]
    assert "secret-looking" not in str(caught.value)


def test_a_file_without_a_head_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="holds no audit head"):
        parse_audit_heads(["# nothing yet"], "heads.jsonl")


def test_a_head_checks_its_fields() -> None:
    with pytest.raises(InvalidInputError, match="32 bytes"):
        AuditHead(1, b"short")
    with pytest.raises(InvalidInputError, match="sequence"):
        AuditHead(0, bytes(32))
