"""A call the caller's role may not make is PERMISSION_DENIED even when its audit entry
cannot be written (the refusal audit keeps the count for its next try)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from linkage.errors import PermissionDeniedError, StorageError
from linkage.pki import Principal
from linkage.server._interceptor import DEV_PRINCIPAL_HEADER, GatewayInterceptor

pytestmark = pytest.mark.unit

_METHOD = "/linkage.v1.IngestService/WriteBatch"


class _Context:
    def invocation_metadata(self) -> list[tuple[str, str]]:
        return [(DEV_PRINCIPAL_HEADER, "responder/police/officer-1")]


def test_a_denied_call_is_permission_denied_when_its_audit_cannot_be_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    audited: list[tuple[Principal, str]] = []

    def failing(principal: Principal, method: str) -> None:
        audited.append((principal, method))
        raise StorageError("the store is closed")

    interceptor = GatewayInterceptor(None, on_denied=failing)
    context: Any = _Context()
    try:
        with (
            caplog.at_level(logging.WARNING, logger="linkage.server"),
            pytest.raises(PermissionDeniedError, match="may not call"),
        ):
            asyncio.run(interceptor._enter(_METHOD, context))
    finally:
        interceptor.close()
    assert [m for _, m in audited] == [_METHOD]
    assert "could not audit a refused call" in caplog.text
