"""Proto builders for server tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from linkage.v1 import common_pb2, ingest_pb2, lookup_pb2
from tests.service.factory import FINGERPRINT, clk_bytes


def consent(*, disclose: bool = True, linkable: bool = True) -> common_pb2.Consent:
    message = common_pb2.Consent(allow_linkage=linkable)
    if disclose:
        message.recipient_roles.append(common_pb2.ROLE_RESPONDER)
        message.purposes.append("crisis_response")
        message.expire_time.FromDatetime(
            (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0, tzinfo=None)
        )
    return message


def upsert(key: str, bits: np.ndarray, *, disclose: bool = True) -> ingest_pb2.RecordMutation:
    return ingest_pb2.RecordMutation(
        upsert=ingest_pb2.RecordUpsert(
            record_key=key.encode(),
            clk=clk_bytes(bits),
            pointer_token=b"ptr-" + key.encode(),
            consent=consent(disclose=disclose),
        )
    )


def write(
    agency_id: str, batch_id: str, *mutations: ingest_pb2.RecordMutation
) -> ingest_pb2.WriteBatchRequest:
    return ingest_pb2.WriteBatchRequest(
        parent=f"agencies/{agency_id}",
        batch_id=batch_id,
        key_epoch=1,
        schema_fingerprint=FINGERPRINT,
        mutations=list(mutations),
    )


def query(bits: np.ndarray, purpose: str = "crisis_response") -> lookup_pb2.LookupRequest:
    return lookup_pb2.LookupRequest(
        clk=clk_bytes(bits), key_epoch=1, schema_fingerprint=FINGERPRINT, purpose=purpose
    )
