"""Reading a stored consent back, where one unreadable record must not fail anyone else.

Every consent the matcher stores passed the write side's checks
(:class:`linkage.service._ingest.Ingest`, the limits of :mod:`linkage.field_limits`), so
each one parses. A store written before those checks (a consent naming 2,000 agencies,
over :data:`~linkage.field_limits.MAX_CONSENT_BYTES`) or altered by hand may still hold
one that does not: such a record is treated as **not disclosable** (a lookup shows
nothing of it, the agency's status does not count it, its listing shows it revoked) and
the matcher logs a warning naming the agency and the problem, never the consent, the
record's key or its pointer, once per agency and problem in a process (a status count
reads every record, so a warning per read would flood the log). A lookup that matched it
still answers, with everything else it may show.
"""

from __future__ import annotations

import logging
import threading

from linkage.consent import Consent, parse_consent
from linkage.errors import InvalidInputError

__all__ = ["UNREADABLE_CONSENT", "read_stored_consent"]

_log = logging.getLogger("linkage.service")

#: What an unreadable stored consent counts as: revoked, never disclosed, not linked.
UNREADABLE_CONSENT = Consent(allow_linkage=False, revoked=True)

#: (agency, problem) pairs already logged by this process, and a bound on their number.
_logged: set[tuple[str, str]] = set()
_logged_lock = threading.Lock()
_MAX_LOGGED = 10_000


def read_stored_consent(data: bytes, agency_id: str) -> Consent | None:
    """The consent stored with a record of ``agency_id``, or None (logged) when it
    cannot be read; the caller treats None as "not disclosable"."""
    try:
        return parse_consent(data)
    except InvalidInputError as exc:
        reason = "; ".join(f"{p.location}: {p.reason}" for p in exc.problems) or exc.message
        with _logged_lock:
            first = (agency_id, reason) not in _logged and len(_logged) < _MAX_LOGGED
            if first:
                _logged.add((agency_id, reason))
        if first:
            _log.warning(
                "a stored consent of a record of agency %s cannot be read (%s); such "
                "records are treated as not disclosable until their agency sends their "
                "consent again (logged once per agency and problem)",
                agency_id,
                reason,
            )
        return None
