"""The responder gateway's behaviour without HTTP: encode a query, look it up, shape the answer.

The web layer is :mod:`agency_client._gateway_http` (a Starlette ASGI app) served by
:mod:`agency_client._gateway_server` (uvicorn, with HTTPS beyond loopback). This module
holds what does not depend on either:

* :class:`GatewayApp`: a query (schema features by name) -> CLK -> the matcher's
  ``Lookup`` -> one dict per disclosed record, never a score or a CLK. "Nothing known"
  and "nothing you may see" are the same answer.
* The lookup purpose is the gateway's configuration (``[gateway] purpose``): a request
  cannot choose it; a request naming one is refused.
* :func:`load_gateway_token`: the bearer token every lookup needs, on loopback too, from
  a private file (the project's one rule for files that hold secrets,
  :func:`linkage.private_files.read_private_file`) or an environment variable.
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from agency_client._client_config import GatewaySettings
from agency_client._gateway_contacts import ContactLog
from agency_client._gateway_page import NO_INFORMATION
from agency_client._matcher import consent_from_proto
from agency_client._query import QueryEncoder
from linkage.consent import Purpose
from linkage.errors import (
    ConfigError,
    FailedPreconditionError,
    InvalidInputError,
    NotFoundError,
    Problem,
)
from linkage.portfile import write_port_file
from linkage.private_files import read_private_file
from linkage.v1 import lookup_pb2

__all__ = [
    "MIN_TOKEN_CHARS",
    "GatewayApp",
    "LookupFunction",
    "load_gateway_token",
    "write_gateway_token",
    "write_port_file",
]

#: The shortest bearer token the gateway accepts.
MIN_TOKEN_CHARS: Final = 16

LookupFunction = Callable[[lookup_pb2.LookupRequest], lookup_pb2.LookupResponse]


def load_gateway_token(settings: GatewaySettings, environ: Mapping[str, str]) -> str | None:
    """The bearer token, from the private file or the variable the settings name (or ``None``).

    ``None`` when the settings name neither; the gateway then refuses to start
    (:func:`agency_client._gateway_server.start_gateway`).
    """
    if settings.token_env is not None:
        value = environ.get(settings.token_env, "")
        if len(value) < MIN_TOKEN_CHARS:
            raise ConfigError(
                f"environment variable {settings.token_env} must hold a token of at least "
                f"{MIN_TOKEN_CHARS} characters ([gateway] token_env)"
            )
        return value
    if settings.token_file is None:
        return None
    path = settings.token_file
    try:
        data = read_private_file(path, "gateway token file", root_group=True, max_bytes=4096)
        text = data.decode("utf-8").strip()
    except NotFoundError as exc:
        raise ConfigError(f"{exc.message} ([gateway] token_file)") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the gateway token must be UTF-8 text") from None
    if len(text) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"{path}: the gateway token must be at least {MIN_TOKEN_CHARS} characters"
        )
    return text


def write_gateway_token(path: Path) -> bool:
    """Create ``path`` (mode 0600) with a fresh random token; ``False`` if it exists (kept)."""
    try:
        fd = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600
        )
    except FileExistsError:
        return False
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create the gateway token ({exc.strerror})") from None
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (secrets.token_urlsafe(32) + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


@dataclass(frozen=True, slots=True)
class GatewayApp:
    """The gateway's behaviour without HTTP: encode, look up, shape the answer.

    ``purpose`` is the gateway's (``[gateway] purpose``), sent with every lookup; a
    query cannot change it. ``token`` is the bearer token every lookup must present;
    a server refuses to start an app without one.
    """

    agency_name: str
    encoder: QueryEncoder
    lookup: LookupFunction
    key_epoch: int
    fingerprint: str
    purpose: Purpose
    max_links: int = 5
    token: str | None = field(default=None, repr=False)
    #: where "log this contact" keeps contacts (None: the page has no contact form)
    contacts: ContactLog | None = None

    def authorised(self, presented: str | None) -> bool:
        """Whether ``presented`` is the token (constant-time); never without a token."""
        if self.token is None or not presented:
            return False
        return hmac.compare_digest(presented.encode("utf-8"), self.token.encode("utf-8"))

    def run_lookup(self, query: Mapping[str, object]) -> list[dict[str, object]]:
        """Disclosed records, one dict per record (best link first); ``[]`` when none."""
        return self.lookup_for_contact(query)[0]

    def lookup_for_contact(
        self, query: Mapping[str, object]
    ) -> tuple[list[dict[str, object]], str | None]:
        """:meth:`run_lookup`'s answer and a contact token for logging a contact with this
        person (None when the gateway does not log contacts)."""
        if "purpose" in query:
            raise InvalidInputError(
                "the lookup purpose is set by the gateway's configuration, not by a request",
                problems=[
                    Problem(
                        "purpose",
                        f"is fixed to {self.purpose.value} by [gateway] purpose; "
                        "leave it out of the request",
                    )
                ],
            )
        clk = self.encoder.encode(query)
        try:
            response = self.lookup(
                lookup_pb2.LookupRequest(
                    clk=clk,
                    key_epoch=self.key_epoch,
                    schema_fingerprint=self.fingerprint,
                    purpose=self.purpose.value,
                    max_links=self.max_links,
                )
            )
        except InvalidInputError as exc:
            if "implausible" in exc.message:
                raise InvalidInputError(implausible_query_message(exc.problems)) from None
            raise
        results: list[dict[str, object]] = []
        for link in response.links:
            for record in link.records:
                consent = consent_from_proto(record.consent)
                results.append(
                    {
                        "link": link.link,
                        "agency": record.agency.removeprefix("agencies/"),
                        "display_name": record.contact_card.display_name,
                        "instructions": record.contact_card.instructions,
                        "phone_number": record.contact_card.phone_number,
                        "pointer_token": base64.urlsafe_b64encode(record.pointer_token)
                        .decode("ascii")
                        .rstrip("="),
                        "consent_purposes": sorted(p.value for p in consent.purposes),
                        "consent_expires": (
                            consent.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
                            if consent.expires_at
                            else None
                        ),
                    }
                )
        contact_token = (
            None if self.contacts is None else self.contacts.tokens.issue(clk, datetime.now(UTC))
        )
        return results, contact_token

    def log_contact(self, token: str, values: Mapping[str, str]) -> None:
        """Keep a contact logged after a lookup (see :mod:`agency_client._gateway_contacts`)."""
        if self.contacts is None:
            raise FailedPreconditionError("this gateway does not log contacts")
        self.contacts.log(token, values, datetime.now(UTC))

    def json_answer(
        self, results: list[dict[str, object]], contact_token: str | None = None
    ) -> dict[str, object]:
        answer: dict[str, object] = {
            "known": bool(results),
            "message": "" if results else NO_INFORMATION,
            "results": results,
        }
        if contact_token is not None:
            answer["contact_token"] = contact_token
        return answer


#: What a responder reads for each detail a plausibility problem names (the segments of
#: the default segmented schema; the record CLK's band names no segment).
_DETAIL_NAMES: Final = {
    "given_name": "the given name",
    "surname": "the surname",
    "date_of_birth": "the date of birth",
    "phone": "the phone number",
    "street": "the street address",
}


def implausible_query_message(problems: Sequence[Problem]) -> str:
    """What the responder is told when the matcher refuses a query CLK as implausible,
    from the matcher's problems (which never hold the query's bits): more bits than any
    record sets (a field holding several values or stray text), details missing (which
    ones), or too few details in all."""
    reasons = [problem.reason for problem in problems]
    too_much = (
        "more",
        "has more",
        "has every bit",
        "has a word with every bit",
        "all bits are one",
        "not a derived",
    )
    if any(reason.startswith(too_much) for reason in reasons):
        return (
            "the query holds more than any one person's record could (a field may hold "
            "several values or stray text); check each field and search again"
        )
    missing = [
        problem.location.rsplit(".", 1)[-1]
        for problem in problems
        if problem.reason.startswith("missing")
    ]
    if missing:
        needs = []
        for group in missing:
            names = [_DETAIL_NAMES.get(part, part.replace("_", " ")) for part in group.split("|")]
            needs.append(
                names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
            )
        return "the query needs " + "; and ".join(needs) + " to be matched reliably"
    return (
        "the query holds too few details to be matched reliably; add the phone "
        "number and the address (street, suburb, postcode, state)"
    )
