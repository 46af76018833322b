"""Keys an agency derives from its own pointer key: record keys and content digests.

* **Record keys** (what the matcher stores to identify a record): the first 16
  bytes of HMAC-SHA256 over the local record ID, under a key derived by HKDF from
  the pointer key and the agency ID. The same local ID always gives the same key,
  so upserts replace and withdrawals find their record; the matcher cannot read
  or guess local IDs without the pointer key, which never leaves the agency.
* **Row digests** (what the local upload state compares): HMAC-SHA256 under a
  second derived key over a signature of the schema, key epoch and column mapping,
  then each mapped cell of the row (length-prefixed). They tell a changed record
  from an unchanged one without storing anything readable, and without normalising
  or encoding unchanged rows; they are useless to anyone without the pointer key.

Rotating the pointer key therefore changes every record key: re-upload
everything (``agency-client upload --replace-all``) after a rotation.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from agency_client.pointer import PointerKey
from linkage.errors import InvalidInputError
from linkage.identity import validate_identifier

__all__ = ["RECORD_KEY_BYTES", "AgencyKeys"]

RECORD_KEY_BYTES: Final = 16
_DIGEST_BYTES: Final = 16


def _derive(material: bytes, agency_id: str, purpose: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"coresponder-agency-keys/v1",
        info=purpose + b"\x00" + agency_id.encode("ascii"),
    ).derive(material)


@dataclass(frozen=True, slots=True)
class AgencyKeys:
    """Record-key and digest keys of one agency; built with :meth:`from_pointer_key`."""

    agency_id: str
    record_key_key: bytes = field(repr=False)
    digest_key: bytes = field(repr=False)

    @classmethod
    def from_pointer_key(cls, pointer_key: PointerKey, agency_id: str) -> AgencyKeys:
        validate_identifier(agency_id, "agency_id")
        return cls(
            agency_id=agency_id,
            record_key_key=_derive(pointer_key.material, agency_id, b"record-key"),
            digest_key=_derive(pointer_key.material, agency_id, b"content-digest"),
        )

    def record_key(self, local_id: str) -> bytes:
        """The matcher-side record key of a local record ID."""
        if not local_id:
            raise InvalidInputError("local record ID: must not be empty")
        return hmac.digest(self.record_key_key, local_id.encode("utf-8"), "sha256")[
            :RECORD_KEY_BYTES
        ]

    def row_digest(self, signature: bytes, cells: Sequence[str]) -> bytes:
        """A keyed digest of a row's mapped cells under a mapping ``signature``: equal
        inputs give equal digests, so unchanged rows need no encoding; nothing else follows.
        Each cell is length-prefixed, so no two different rows give the same input."""
        payload = "".join(f"{len(cell)}:{cell}" for cell in cells).encode("utf-8")
        return hmac.digest(self.digest_key, signature + payload, "sha256")[:_DIGEST_BYTES]
