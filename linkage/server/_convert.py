"""Conversions between linkage.v1 protos and domain types. Only the server
layer imports protobuf; the domain never does."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from datetime import UTC, datetime

from google.protobuf import timestamp_pb2

from linkage.consent import Consent, Purpose, parse_consent, serialize_consent
from linkage.errors import InvalidInputError, Problem
from linkage.events import RecordEvent, canonical_events, parse_event
from linkage.field_limits import (
    MAX_CONTACT_DISPLAY_NAME_CHARS,
    MAX_CONTACT_INSTRUCTIONS_CHARS,
    MAX_CONTACT_PHONE_CHARS,
    MAX_EVENTS_PER_RECORD,
)
from linkage.service import ConsentChange, Mutation, RecordUpsert, RecordWithdrawal
from linkage.v1 import common_pb2, ingest_pb2
from linkage.wire import ROLE_FROM_PROTO, consent_to_proto

__all__ = [
    "agency_id_from_name",
    "consent_from_proto",
    "contact_card_from_bytes",
    "contact_card_to_bytes",
    "decimal_page_token",
    "events_from_proto",
    "mutation_from_proto",
    "record_key_name",
    "sequence_from_request",
    "stored_consent_to_proto",
    "timestamp_from_us",
]


def timestamp_from_us(us: int) -> timestamp_pb2.Timestamp:
    """A protobuf Timestamp for microseconds since the epoch."""
    ts = timestamp_pb2.Timestamp()
    ts.FromMicroseconds(us)
    return ts


def agency_id_from_name(name: str, field: str) -> str:
    """The agency ID of ``agencies/{agency}``; InvalidInputError naming ``field`` otherwise."""
    prefix = "agencies/"
    if not name.startswith(prefix) or "/" in name[len(prefix) :] or len(name) == len(prefix):
        raise InvalidInputError(
            "invalid resource name", problems=[Problem(field, "must be agencies/{agency}")]
        )
    return name[len(prefix) :]


def record_key_name(agency_id: str, record_key: bytes) -> str:
    """``agencies/{agency}/records/{record}``, the key in unpadded base64url."""
    encoded = base64.urlsafe_b64encode(record_key).decode().rstrip("=")
    return f"agencies/{agency_id}/records/{encoded}"


def page_token_to_bytes(token: str, field: str = "page_token") -> bytes:
    """Decode an opaque page token (base64url of the last key)."""
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise InvalidInputError(
            "invalid page token", problems=[Problem(field, "is not a token this server issued")]
        ) from None


#: the largest integer the store's sequence and ID columns hold (SQLite and PostgreSQL
#: BIGINT); a request naming a larger one is refused rather than overflowing the driver
MAX_STORED_INTEGER = 2**63 - 1

_DECIMAL_TOKEN = re.compile(r"[0-9]{1,19}")


def sequence_from_request(value: int, field: str) -> int:
    """A sequence number from a request (a uint64 field), refused above what the store
    holds with InvalidInputError naming ``field``."""
    if value > MAX_STORED_INTEGER:
        raise InvalidInputError(
            "invalid sequence number",
            problems=[Problem(field, f"must be at most {MAX_STORED_INTEGER}")],
        )
    return value


def decimal_page_token(token: str, field: str = "page_token") -> int | None:
    """The row ID of a decimal page token (None for an empty token); anything but 1-19
    ASCII digits up to :data:`MAX_STORED_INTEGER` is InvalidInputError naming ``field``."""
    if not token:
        return None
    if _DECIMAL_TOKEN.fullmatch(token) is None or int(token) > MAX_STORED_INTEGER:
        raise InvalidInputError(
            "invalid page token", problems=[Problem(field, "is not a token this server issued")]
        )
    return int(token)


def bytes_to_page_token(value: bytes) -> str:
    """Encode the last key of a page as an opaque token."""
    return base64.urlsafe_b64encode(value).decode().rstrip("=")


def consent_from_proto(message: common_pb2.Consent, where: str) -> Consent:
    """A validated domain consent; problems name fields under ``where``."""
    problems: list[Problem] = []
    roles = set()
    for i, value in enumerate(message.recipient_roles):
        role = ROLE_FROM_PROTO.get(value)
        if role is None:
            problems.append(Problem(f"{where}.recipient_roles[{i}]", "unknown or unset role"))
        else:
            roles.add(role)
    purposes = set()
    for i, text in enumerate(message.purposes):
        try:
            purposes.add(Purpose(text))
        except ValueError:
            known = ", ".join(p.value for p in Purpose)
            problems.append(Problem(f"{where}.purposes[{i}]", f"must be one of {known}"))
    expires = None
    if message.HasField("expire_time"):
        try:
            expires = message.expire_time.ToDatetime(tzinfo=UTC)
        except (ValueError, OverflowError):  # seconds or nanos outside Timestamp's range
            problems.append(
                Problem(
                    f"{where}.expire_time",
                    "must be a valid timestamp from 0001-01-01 to 9999-12-31 UTC",
                )
            )
    if problems:
        raise InvalidInputError("invalid consent", problems=problems)
    try:
        return Consent(
            allow_linkage=message.allow_linkage,
            recipient_roles=frozenset(roles),
            recipient_agencies=frozenset(message.recipient_agencies),
            purposes=frozenset(purposes),
            expires_at=expires,
            revoked=message.revoked,
        )
    except InvalidInputError as exc:
        raise InvalidInputError(
            "invalid consent",
            problems=[Problem(f"{where}.{p.location}", p.reason) for p in exc.problems]
            or [Problem(where, exc.message)],
        ) from None


def stored_consent_to_proto(data: bytes) -> common_pb2.Consent:
    """The proto form of stored canonical consent bytes."""
    return consent_to_proto(parse_consent(data))


def mutation_from_proto(message: ingest_pb2.RecordMutation, index: int) -> Mutation:
    """A domain mutation; problems name ``mutations[index]...``."""
    where = f"mutations[{index}]"
    kind = message.WhichOneof("mutation")
    if kind == "upsert":
        upsert = message.upsert
        problems: list[Problem] = []
        consent: Consent | None = None
        events: tuple[RecordEvent, ...] = ()
        try:
            consent = consent_from_proto(upsert.consent, f"{where}.upsert.consent")
        except InvalidInputError as exc:
            problems.extend(exc.problems or [Problem(f"{where}.upsert.consent", exc.message)])
        try:
            events = events_from_proto(upsert.events, f"{where}.upsert.events")
        except InvalidInputError as exc:
            problems.extend(exc.problems)
        if problems or consent is None:
            raise InvalidInputError("invalid upsert", problems=problems)
        return RecordUpsert(
            record_key=upsert.record_key,
            clk=upsert.clk,
            pointer_token=upsert.pointer_token,
            consent=serialize_consent(consent),
            linkable=consent.allow_linkage,
            events=events,
        )
    if kind == "withdraw_record_key":
        return RecordWithdrawal(record_key=message.withdraw_record_key)
    if kind == "consent_update":
        update = message.consent_update
        consent = consent_from_proto(update.consent, f"{where}.consent_update.consent")
        return ConsentChange(
            record_key=update.record_key,
            consent=serialize_consent(consent),
            linkable=consent.allow_linkage,
        )
    raise InvalidInputError(
        "invalid mutation", problems=[Problem(where, "must set upsert, withdraw or consent")]
    )


def events_from_proto(
    messages: Sequence[ingest_pb2.RecordEvent], where: str
) -> tuple[RecordEvent, ...]:
    """A record's events in canonical order; every problem named ``where[i].field``. More
    than the most a record may carry is one problem (the events are not read)."""
    if len(messages) > MAX_EVENTS_PER_RECORD:
        raise InvalidInputError(
            "invalid events",
            problems=[Problem(where, f"must be at most {MAX_EVENTS_PER_RECORD} events")],
        )
    events: list[RecordEvent] = []
    problems: list[Problem] = []
    for i, message in enumerate(messages):
        try:
            events.append(
                parse_event(message.code, message.date, message.disposition, f"{where}[{i}]")
            )
        except InvalidInputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InvalidInputError("invalid events", problems=problems[:100])
    return canonical_events(events)


def contact_card_to_bytes(card: common_pb2.ContactCard) -> bytes:
    """Canonical bytes of a contact card, as the store keeps it."""
    problems = []
    for field, limit in (
        ("display_name", MAX_CONTACT_DISPLAY_NAME_CHARS),
        ("instructions", MAX_CONTACT_INSTRUCTIONS_CHARS),
        ("phone_number", MAX_CONTACT_PHONE_CHARS),
    ):
        if len(getattr(card, field)) > limit:
            problems.append(Problem(f"agency.contact_card.{field}", f"at most {limit} characters"))
    if problems:
        raise InvalidInputError("invalid contact card", problems=problems)
    return card.SerializeToString(deterministic=True)


def contact_card_from_bytes(data: bytes) -> common_pb2.ContactCard:
    """A contact card from stored bytes."""
    return common_pb2.ContactCard.FromString(data)


def datetime_to_timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    """A Timestamp for an aware datetime."""
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value.astimezone(UTC).replace(tzinfo=None))
    return ts
