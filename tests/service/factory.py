"""Builders for service tests: synthetic CLKs, principals, consents, batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from linkage.consent import Consent, Purpose, serialize_consent
from linkage.pki import Principal, Role
from linkage.service import LinkageSettings, RecordUpsert, WriteBatch

BITS = 1024
FINGERPRINT = "ab" * 16
SETTINGS = LinkageSettings(
    threshold=0.8, clk_bits=BITS, key_epoch=1, schema_fingerprint=FINGERPRINT
)
OPERATOR = Principal(Role.OPERATOR, None, "op", 1)


def agency(agency_id: str) -> Principal:
    return Principal(Role.AGENCY, agency_id, "it", 2)


def responder(agency_id: str, name: str = "officer") -> Principal:
    return Principal(Role.RESPONDER, agency_id, name, 3)


def person(rng: np.random.Generator, fill: float = 0.3) -> np.ndarray:
    """A random CLK as a bool vector."""
    return rng.random(BITS) < fill


def variant(rng: np.random.Generator, bits: np.ndarray, flips: int = 20) -> np.ndarray:
    """The same person with a few bits flipped (Dice stays well above 0.8)."""
    out = bits.copy()
    positions = rng.choice(BITS, size=flips, replace=False)
    out[positions] = ~out[positions]
    return out


def clk_bytes(bits: np.ndarray) -> bytes:
    return np.packbits(bits).tobytes()


def consent(
    *, disclose: bool = True, linkable: bool = True, agencies: tuple[str, ...] = ()
) -> bytes:
    if not disclose:
        return serialize_consent(Consent.no_disclosure(allow_linkage=linkable))
    return serialize_consent(
        Consent.for_recipients(
            roles=[Role.RESPONDER],
            purposes=[Purpose.CRISIS_RESPONSE],
            expires_at=(datetime.now(UTC) + timedelta(days=365)).replace(microsecond=0),
            agencies=agencies,
            allow_linkage=linkable,
        )
    )


def upsert(
    key: str, bits: np.ndarray, *, disclose: bool = True, linkable: bool = True
) -> RecordUpsert:
    return RecordUpsert(
        record_key=key.encode(),
        clk=clk_bytes(bits),
        pointer_token=b"ptr:" + key.encode(),
        consent=consent(disclose=disclose, linkable=linkable),
        linkable=linkable,
    )


def batch(
    agency_id: str, batch_id: str, *mutations: object, withdraw_all: bool = False
) -> WriteBatch:
    return WriteBatch(
        agency_id=agency_id,
        batch_id=batch_id,
        key_epoch=SETTINGS.key_epoch,
        schema_fingerprint=SETTINGS.schema_fingerprint,
        mutations=tuple(mutations),  # type: ignore[arg-type]
        withdraw_all=withdraw_all,
    )
