"""Listen addresses: what binds to loopback only (the matcher's --insecure-dev and the
gateway's plain HTTP both depend on it)."""

from __future__ import annotations

import pytest

from agency_client._client_config import is_loopback_listen
from linkage.addresses import is_loopback
from linkage.server import is_loopback_address

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("listen", "loopback"),
    [
        ("127.0.0.1:50051", True),
        ("127.8.9.10:1", True),
        ("localhost:8765", True),
        ("[::1]:443", True),
        ("0.0.0.0:50051", False),
        ("[::]:50051", False),
        ("10.0.0.5:80", False),
        ("localhost.example.org:80", False),
        ("matcher:50051", False),
        (":50051", False),
    ],
)
def test_loopback_addresses(listen: str, loopback: bool) -> None:
    assert is_loopback(listen) is loopback


def test_the_matcher_and_the_gateway_use_the_one_rule() -> None:
    assert is_loopback_address is is_loopback
    assert is_loopback_listen is is_loopback
