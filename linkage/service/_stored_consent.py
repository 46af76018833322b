"""Reading a stored consent back, where one unreadable record must not fail anyone else.

Every consent the matcher stores passed the write side's checks
(:class:`linkage.service._ingest.Ingest`, the limits of :mod:`linkage.field_limits`), so
each one parses. A store written before those checks (a consent naming 2,000 agencies,
over :data:`~linkage.field_limits.MAX_CONSENT_BYTES`) or altered by hand may still hold
one that does not: such a record is treated as **not disclosable** (a lookup shows
nothing of it, the agency's status does not count it, its listing shows it revoked) and
the matcher logs a warning naming the agency and the problem, never the consent, the
record's key or its pointer. A scan over many records (an agency's status count, a page
of its listing) passes one ``warned`` set, so it logs each agency and problem once, not
once per record. A lookup that matched it still answers, with everything else it may
show.
"""

from __future__ import annotations

import logging

from linkage.consent import Consent, parse_consent
from linkage.errors import InvalidInputError

__all__ = ["UNREADABLE_CONSENT", "read_stored_consent"]

_log = logging.getLogger("linkage.service")

#: What an unreadable stored consent counts as: revoked, never disclosed, not linked.
UNREADABLE_CONSENT = Consent(allow_linkage=False, revoked=True)


def read_stored_consent(
    data: bytes, agency_id: str, warned: set[tuple[str, str]] | None = None
) -> Consent | None:
    """The consent stored with a record of ``agency_id``, or None (logged) when it
    cannot be read; the caller treats None as "not disclosable". With ``warned`` (one
    set for one scan), each agency and problem is logged once in it."""
    try:
        return parse_consent(data)
    except InvalidInputError as exc:
        reason = "; ".join(f"{p.location}: {p.reason}" for p in exc.problems) or exc.message
        if warned is None or (agency_id, reason) not in warned:
            if warned is not None:
                warned.add((agency_id, reason))
            _log.warning(
                "a stored consent of a record of agency %s cannot be read (%s); such "
                "records are treated as not disclosable until their agency sends their "
                "consent again",
                agency_id,
                reason,
            )
        return None
