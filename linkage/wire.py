"""Proto forms of the domain pieces both sides send: roles and consent.

The matcher's servicers and the agency client (uploads, consent changes, the gateway)
convert with these, so a consent means the same on the wire whichever side wrote it.
Each side keeps its own reading of a received consent: the matcher validates every field
and names each problem (:func:`linkage.server._convert.consent_from_proto`), the agency
client reads what the matcher returned (:func:`agency_client._matcher.consent_from_proto`).
"""

from __future__ import annotations

from datetime import UTC
from typing import Final

from linkage.consent import Consent
from linkage.identity import Role
from linkage.v1 import common_pb2

__all__ = ["ROLE_FROM_PROTO", "ROLE_TO_PROTO", "consent_to_proto"]

#: A role's proto enum value.
ROLE_TO_PROTO: Final = {
    Role.AGENCY: common_pb2.ROLE_AGENCY,
    Role.RESPONDER: common_pb2.ROLE_RESPONDER,
    Role.OPERATOR: common_pb2.ROLE_OPERATOR,
}
#: The role of a proto enum value (``ROLE_UNSPECIFIED`` has none).
ROLE_FROM_PROTO: Final = {value: role for role, value in ROLE_TO_PROTO.items()}


def consent_to_proto(consent: Consent) -> common_pb2.Consent:
    """The proto form of a domain consent (lists sorted, the expiry in UTC)."""
    message = common_pb2.Consent(
        allow_linkage=consent.allow_linkage,
        recipient_agencies=sorted(consent.recipient_agencies),
        recipient_roles=sorted(ROLE_TO_PROTO[r] for r in consent.recipient_roles),
        purposes=sorted(p.value for p in consent.purposes),
        revoked=consent.revoked,
    )
    if consent.expires_at is not None:
        message.expire_time.FromDatetime(consent.expires_at.astimezone(UTC).replace(tzinfo=None))
    return message
