"""The size of every field the matcher stores: one definition, enforced at write.

Whatever the matcher accepts it must be able to read back, show to its owner and use in
a lookup for anyone else. So each limit on a stored field is defined once, here, and
both sides use the same number: the write side (the servicers' conversions, the
service's batch validation, agency enrolment and contact-card changes) refuses anything
beyond it with a problem naming the field, and the read side (a consent's parser, the
lookups, the agency's status and listing) relies on it and never refuses what the write
side let through.

A derived limit must follow from the limits it is made of: a consent with the most
recipient agencies, each of the longest ID, every role and every purpose serialises to
less than :data:`MAX_CONSENT_BYTES` (tests/test_field_limits.py builds that consent).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "MAX_AGENCY_DISPLAY_NAME_CHARS",
    "MAX_CONSENT_BYTES",
    "MAX_CONTACT_CARD_BYTES",
    "MAX_CONTACT_DISPLAY_NAME_CHARS",
    "MAX_CONTACT_INSTRUCTIONS_CHARS",
    "MAX_CONTACT_PHONE_CHARS",
    "MAX_EVENTS_PER_RECORD",
    "MAX_POINTER_TOKEN_BYTES",
    "MAX_RECIPIENT_AGENCIES",
    "MAX_RECORD_KEY_BYTES",
]

#: A record key (the agency's keyed hash of its local record ID).
MAX_RECORD_KEY_BYTES: Final = 64
#: A pointer token (the agency's sealed local record ID; 1 + 4 + 12 + 288 + 16 at most).
MAX_POINTER_TOKEN_BYTES: Final = 1024
#: Agencies one consent may name as recipients (each must be enrolled).
MAX_RECIPIENT_AGENCIES: Final = 100
#: A consent's canonical bytes. Derived: the largest consent the other limits allow
#: (100 agencies of 64 characters, every role and purpose) is about 7,000 bytes.
MAX_CONSENT_BYTES: Final = 16 * 1024
#: Programme events on one record.
MAX_EVENTS_PER_RECORD: Final = 1000
#: An agency's display name.
MAX_AGENCY_DISPLAY_NAME_CHARS: Final = 200
#: The contact card responders see: the name on it, what to do, the number to call.
MAX_CONTACT_DISPLAY_NAME_CHARS: Final = 200
MAX_CONTACT_INSTRUCTIONS_CHARS: Final = 500
MAX_CONTACT_PHONE_CHARS: Final = 40
#: A contact card's stored bytes. Derived: 740 characters of at most 4 UTF-8 bytes each
#: and the fields' tags and lengths come to under 3,000 bytes.
MAX_CONTACT_CARD_BYTES: Final = 4096
