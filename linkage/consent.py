"""Per-record consent (42 CFR Part 2 shaped) and the pure decisions made from it.

A record's consent says whether the record may take part in linkage at all
(the agency's policy) and, separately, to whom its pointer may be disclosed:
which recipient roles, optionally restricted to named agencies, for which
purposes, until when, unless revoked. Disclosure is decided at lookup time by
:func:`may_disclose`, so a revocation or expiry takes effect on the next query.

Rules (each is tested):

* Operators and the server are never recipients (they never see pointers).
* Disclosure needs: not revoked, linkage allowed, ``now < expires_at``, the
  requester's role among ``recipient_roles``, its agency among
  ``recipient_agencies`` when that set is non-empty, and the purpose among
  ``purposes``.
* A consent that names recipients must name at least one purpose and an
  expiry (Part 2 §2.31(a) requires an expiration); purposes or agencies
  without recipient roles are rejected as contradictory.
* A record without disclosure consent may still be linked when
  ``allow_linkage`` is true; it is just never disclosed.
* ``evaluation`` is an aggregate purpose: it lets the record's events count in the
  programme's outcome measures (:func:`may_evaluate`), released only as noisy,
  suppressed aggregates; it never discloses anything to anyone, so it needs no recipient
  (an evaluation-only consent names no roles), but it needs an expiry, and no lookup may
  state it (:func:`may_disclose` is false for it).

Canonical serialisation (what the store keeps and what is hashed) is compact
JSON with sorted keys and sorted lists::

    {"allow_linkage":true,"expires_at":"2027-01-31T00:00:00Z","purposes":["crisis_response"],
     "recipient_agencies":[],"recipient_roles":["responder"],"revoked":false,"version":1}
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from linkage.errors import InvalidInputError, Problem
from linkage.field_limits import MAX_CONSENT_BYTES, MAX_RECIPIENT_AGENCIES
from linkage.identity import Principal, Role, validate_identifier

__all__ = [
    "DISCLOSABLE_ROLES",
    "MAX_CONSENT_BYTES",
    "Consent",
    "Purpose",
    "may_disclose",
    "may_evaluate",
    "may_link",
    "parse_consent",
    "serialize_consent",
]

_VERSION = 1
#: The only roles a pointer may ever be disclosed to.
DISCLOSABLE_ROLES = frozenset({Role.RESPONDER, Role.AGENCY})
_KEYS = frozenset(
    {
        "version",
        "allow_linkage",
        "recipient_roles",
        "recipient_agencies",
        "purposes",
        "expires_at",
        "revoked",
    }
)
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class Purpose(enum.Enum):
    """Why a recipient asks. Unknown purposes are rejected, never guessed."""

    CRISIS_RESPONSE = "crisis_response"
    CARE_COORDINATION = "care_coordination"
    TREATMENT = "treatment"
    #: aggregate programme evaluation (outcome measures); never a lookup's purpose
    EVALUATION = "evaluation"


@dataclass(frozen=True, slots=True)
class Consent:
    """One record's consent. Iterables are accepted and frozen; times become UTC."""

    allow_linkage: bool
    recipient_roles: frozenset[Role] = frozenset()
    recipient_agencies: frozenset[str] = frozenset()
    purposes: frozenset[Purpose] = frozenset()
    expires_at: datetime | None = None
    revoked: bool = False

    def __post_init__(self) -> None:
        problems = _validate(self)
        if problems:
            raise InvalidInputError("consent is invalid", problems=problems)

    @classmethod
    def no_disclosure(cls, *, allow_linkage: bool = True) -> Consent:
        """Link (if the agency allows) but never disclose."""
        return cls(allow_linkage=allow_linkage)

    @classmethod
    def for_recipients(
        cls,
        *,
        roles: Iterable[Role],
        purposes: Iterable[Purpose],
        expires_at: datetime,
        agencies: Iterable[str] = (),
        allow_linkage: bool = True,
    ) -> Consent:
        return cls(
            allow_linkage=allow_linkage,
            recipient_roles=frozenset(roles),
            recipient_agencies=frozenset(agencies),
            purposes=frozenset(purposes),
            expires_at=expires_at,
        )

    def revoke(self) -> Consent:
        """The same consent, revoked (disclosure stops; linkage policy is unchanged)."""
        return replace(self, revoked=True)

    @property
    def grants_disclosure(self) -> bool:
        """Whether this consent names any recipient at all (ignoring time and revocation)."""
        return bool(self.recipient_roles)

    def discloses_at(self, now: datetime) -> bool:
        """Whether anyone at all may see the record at ``now``: linked, not revoked, a
        recipient named and the consent not expired (:func:`may_disclose` then asks who)."""
        return (
            self.allow_linkage
            and not self.revoked
            and self.grants_disclosure
            and self.expires_at is not None
            and now < self.expires_at
        )

    def to_bytes(self) -> bytes:
        return serialize_consent(self)


def _validate(consent: Consent) -> list[Problem]:
    problems: list[Problem] = []
    for name in ("allow_linkage", "revoked"):
        if not isinstance(getattr(consent, name), bool):
            problems.append(Problem(f"$.{name}", "must be a boolean"))
    roles = _freeze(consent, "recipient_roles", problems)
    agencies = _freeze(consent, "recipient_agencies", problems)
    purposes = _freeze(consent, "purposes", problems)
    for role in roles:
        if not isinstance(role, Role):
            problems.append(Problem("$.recipient_roles", "entries must be roles"))
        elif role not in DISCLOSABLE_ROLES:
            problems.append(
                Problem("$.recipient_roles", f"role {role.value} may never receive pointers")
            )
    if len(agencies) > MAX_RECIPIENT_AGENCIES:
        problems.append(
            Problem(
                "$.recipient_agencies",
                f"names {len(agencies)} agencies; at most {MAX_RECIPIENT_AGENCIES}",
            )
        )
    for agency in agencies:
        try:
            validate_identifier(agency, "agency")
        except InvalidInputError:
            problems.append(Problem("$.recipient_agencies", "entries must be valid agency IDs"))
            break
    if not all(isinstance(p, Purpose) for p in purposes):
        problems.append(Problem("$.purposes", "entries must be purposes"))
    expires: object = consent.expires_at
    if expires is not None:
        if not isinstance(expires, datetime):
            problems.append(Problem("$.expires_at", "must be a datetime"))
        elif expires.tzinfo is None or expires.utcoffset() is None:
            problems.append(Problem("$.expires_at", "must be timezone-aware"))
        elif expires.microsecond:
            problems.append(Problem("$.expires_at", "must be whole seconds"))
        else:
            object.__setattr__(consent, "expires_at", expires.astimezone(UTC))
    if roles:
        if not purposes:
            problems.append(Problem("$.purposes", "recipients need at least one purpose"))
        if expires is None:
            problems.append(Problem("$.expires_at", "recipients need an expiry"))
    else:
        if purposes - {Purpose.EVALUATION}:
            problems.append(Problem("$.purposes", "purposes given without recipient roles"))
        elif purposes and expires is None:
            problems.append(Problem("$.expires_at", "an evaluation consent needs an expiry"))
        if agencies:
            problems.append(
                Problem("$.recipient_agencies", "agencies given without recipient roles")
            )
    return problems


def _freeze(consent: Consent, name: str, problems: list[Problem]) -> frozenset[Any]:
    value = getattr(consent, name)
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        problems.append(Problem(f"$.{name}", "must be a set"))
        return frozenset()
    frozen = frozenset(value)
    object.__setattr__(consent, name, frozen)
    return frozen


def may_link(consent: Consent) -> bool:
    """Whether the record may take part in linkage at all (the agency's policy)."""
    return consent.allow_linkage


def may_disclose(consent: Consent, requester: Principal, purpose: Purpose, now: datetime) -> bool:
    """Whether ``requester`` may see this record's pointer for ``purpose`` at ``now``."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise InvalidInputError("now: must be a timezone-aware datetime")
    if purpose is Purpose.EVALUATION or not consent.discloses_at(now):
        return False
    if requester.role not in DISCLOSABLE_ROLES or requester.role not in consent.recipient_roles:
        return False
    if consent.recipient_agencies and requester.agency_id not in consent.recipient_agencies:
        return False
    return purpose in consent.purposes


def may_evaluate(consent: Consent, now: datetime) -> bool:
    """Whether the record's events may count in aggregate outcome measures at ``now``: it
    takes part in linkage, is not revoked, names ``evaluation`` and has not expired."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise InvalidInputError("now: must be a timezone-aware datetime")
    return (
        consent.allow_linkage
        and not consent.revoked
        and Purpose.EVALUATION in consent.purposes
        and (consent.expires_at is None or now < consent.expires_at)
    )


def serialize_consent(consent: Consent) -> bytes:
    """Canonical bytes: equal consents serialise identically."""
    data = {
        "version": _VERSION,
        "allow_linkage": consent.allow_linkage,
        "recipient_roles": sorted(role.value for role in consent.recipient_roles),
        "recipient_agencies": sorted(consent.recipient_agencies),
        "purposes": sorted(p.value for p in consent.purposes),
        "expires_at": _format_time(consent.expires_at) if consent.expires_at is not None else None,
        "revoked": consent.revoked,
    }
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _format_time(value: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` with a four-digit year (strftime's %Y writes year 1 as
    ``1``, which :func:`parse_consent` would refuse)."""
    return f"{value.year:04d}-" + value.strftime("%m-%dT%H:%M:%SZ")


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise InvalidInputError(
                "consent is invalid", problems=[Problem(f"$.{key}", "duplicate key")]
            )
        result[key] = value
    return result


def parse_consent(data: bytes) -> Consent:
    """Parse consent bytes (canonical or not); InvalidInputError lists every problem by path."""
    if not isinstance(data, bytes | bytearray):
        raise InvalidInputError("consent: must be bytes")
    if len(data) > MAX_CONSENT_BYTES:
        raise InvalidInputError(f"consent: larger than {MAX_CONSENT_BYTES} bytes")
    try:
        obj = json.loads(bytes(data).decode("utf-8"), object_pairs_hook=_reject_duplicates)
    except UnicodeDecodeError:
        raise InvalidInputError("consent: not UTF-8") from None
    except ValueError as exc:
        if isinstance(exc, InvalidInputError):
            raise
        raise InvalidInputError("consent: not valid JSON") from None
    if not isinstance(obj, dict):
        raise InvalidInputError("consent is invalid", problems=[Problem("$", "must be an object")])
    problems: list[Problem] = []
    for key in sorted(set(obj) - _KEYS):
        problems.append(Problem(f"$.{key}", "unknown key"))
    for key in sorted(_KEYS - set(obj)):
        problems.append(Problem(f"$.{key}", "missing"))
    if problems:
        raise InvalidInputError("consent is invalid", problems=problems)
    version = obj["version"]
    if type(version) is not int or version != _VERSION:
        problems.append(Problem("$.version", f"must be {_VERSION}"))
    for key in ("allow_linkage", "revoked"):
        if not isinstance(obj[key], bool):
            problems.append(Problem(f"$.{key}", "must be true or false"))
    roles = _parse_enum_list(obj["recipient_roles"], Role, "$.recipient_roles", problems)
    purposes = _parse_enum_list(obj["purposes"], Purpose, "$.purposes", problems)
    agencies = obj["recipient_agencies"]
    if not isinstance(agencies, list) or not all(isinstance(a, str) for a in agencies):
        problems.append(Problem("$.recipient_agencies", "must be a list of strings"))
        agencies = []
    elif len(set(agencies)) != len(agencies):
        problems.append(Problem("$.recipient_agencies", "has duplicates"))
    expires_at: datetime | None = None
    if obj["expires_at"] is not None:
        text = obj["expires_at"]
        try:
            if not isinstance(text, str):
                raise ValueError
            expires_at = datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            problems.append(Problem("$.expires_at", "must be null or YYYY-MM-DDTHH:MM:SSZ"))
    if problems:
        raise InvalidInputError("consent is invalid", problems=problems)
    return Consent(
        allow_linkage=obj["allow_linkage"],
        recipient_roles=frozenset(roles),
        recipient_agencies=frozenset(agencies),
        purposes=frozenset(purposes),
        expires_at=expires_at,
        revoked=obj["revoked"],
    )


_E = TypeVar("_E", bound=enum.Enum)


def _parse_enum_list(value: object, cls: type[_E], where: str, problems: list[Problem]) -> list[_E]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(Problem(where, "must be a list of strings"))
        return []
    if len(set(value)) != len(value):
        problems.append(Problem(where, "has duplicates"))
    result: list[_E] = []
    for i, item in enumerate(value):
        try:
            result.append(cls(item))
        except ValueError:
            problems.append(Problem(f"{where}[{i}]", "unknown value"))
    return result
