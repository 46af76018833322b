"""The gateway's "log this contact": a token from the lookup, the form's three fields, the
local field-contact file (:mod:`agency_client._contacts`).

A lookup answer carries a **contact token**: the query's CLK sealed with AES-256-GCM
under a key the gateway draws at start (so only this gateway process can open it),
with the time it was issued. Logging a contact presents the token, the access code
(the bearer token, as for a lookup) and the form's fields, nothing else:

* ``contact_date`` (``YYYY-MM-DD``; not in the future) and ``contact_time`` (``HH:MM``);
* ``disposition``: a code of :class:`linkage.events.Disposition`.

The contact is then kept in the field-contact file and sent by the next
``agency-client upload``. A token is good for :data:`TOKEN_TTL` (a shift); an unknown,
altered or expired token is refused without saying which.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from agency_client._contacts import FieldContactStore, LoggedContact
from linkage.errors import InvalidInputError, Problem
from linkage.events import Disposition

__all__ = ["CONTACT_FIELDS", "TOKEN_TTL", "ContactLog", "ContactTokens", "parse_contact_form"]

#: How long after its lookup a contact token can be used.
TOKEN_TTL: Final = timedelta(hours=12)
#: The fields a contact takes (the form's, the JSON API's), besides the token.
CONTACT_FIELDS: Final = ("contact_date", "contact_time", "disposition")
_AAD: Final = b"agency-client gateway contact token v1"
_NONCE_BYTES: Final = 12


@dataclass(frozen=True, slots=True)
class ContactTokens:
    """Seals a lookup's CLK into a contact token and opens it again (this process only)."""

    key: bytes = field(default_factory=lambda: AESGCM.generate_key(bit_length=256), repr=False)

    def issue(self, clk: bytes, now: datetime) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        plain = struct.pack(">q", int(now.timestamp())) + clk
        sealed = nonce + AESGCM(self.key).encrypt(nonce, plain, _AAD)
        return base64.urlsafe_b64encode(sealed).decode("ascii").rstrip("=")

    def open(self, token: str, now: datetime) -> bytes:
        """The CLK of a token this gateway issued less than :data:`TOKEN_TTL` ago."""
        refused = InvalidInputError(
            "the contact cannot be logged: look the person up again, then log it",
            problems=[Problem("contact_token", "is not a current token of this gateway")],
        )
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raise refused from None
        if len(raw) <= _NONCE_BYTES + 16 + 8:
            raise refused
        try:
            plain = AESGCM(self.key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _AAD)
        except InvalidTag:
            raise refused from None
        (issued,) = struct.unpack(">q", plain[:8])
        age = now - datetime.fromtimestamp(issued, UTC)
        if age > TOKEN_TTL or age < -timedelta(minutes=5):
            raise refused
        return plain[8:]


def parse_contact_form(values: Mapping[str, str], today: date) -> LoggedContact:
    """The contact the form's fields describe; every problem named by field (never its
    value). A field the form does not have is refused: a contact carries nothing else."""
    problems: list[Problem] = []
    if set(values) - set(CONTACT_FIELDS):
        problems.append(Problem("contact", "takes only a date, a time and a disposition"))
    contact_date: date | None = None
    text = values.get("contact_date", "").strip()
    try:
        if len(text) != 10:
            raise ValueError
        contact_date = date.fromisoformat(text)
    except ValueError:
        problems.append(Problem("contact_date", "must be a date YYYY-MM-DD"))
    else:
        if contact_date > today + timedelta(days=1):
            problems.append(Problem("contact_date", "lies in the future"))
        elif contact_date < date(1970, 1, 1):
            problems.append(Problem("contact_date", "must be 1970-01-01 or later"))
    contact_time: time | None = None
    text = values.get("contact_time", "").strip()
    try:
        if len(text) != 5:
            raise ValueError
        contact_time = time.fromisoformat(text)
    except ValueError:
        problems.append(Problem("contact_time", "must be a time HH:MM"))
    disposition: Disposition | None = None
    try:
        disposition = Disposition(values.get("disposition", "").strip())
    except ValueError:
        known = ", ".join(d.value for d in Disposition)
        problems.append(Problem("disposition", f"must be one of {known}"))
    if problems or contact_date is None or contact_time is None or disposition is None:
        raise InvalidInputError("the contact was not logged", problems=problems)
    return LoggedContact(contact_date, contact_time, disposition)


class ContactLog:
    """Where a gateway logs contacts: the field-contact file of its agency."""

    def __init__(self, path: Path, fingerprint: str, key_epoch: int) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self.key_epoch = key_epoch
        self.tokens = ContactTokens()
        self._lock = threading.Lock()
        FieldContactStore(path).close()  # created (0600) and checked at start

    def log(self, token: str, values: Mapping[str, str], now: datetime) -> None:
        """Open the token, check the fields, keep the contact; InvalidInputError names every
        problem."""
        problems: list[Problem] = []
        clk: bytes | None = None
        try:
            clk = self.tokens.open(token, now)
        except InvalidInputError as exc:
            problems.extend(exc.problems)
        try:
            contact = parse_contact_form(values, now.date())
        except InvalidInputError as exc:
            problems.extend(exc.problems)
        if problems or clk is None:
            raise InvalidInputError("the contact was not logged", problems=problems)
        with self._lock, FieldContactStore(self.path, create=False) as store:
            store.add(clk, self.fingerprint, self.key_epoch, contact)
