"""Plain data types that cross the storage interface.

They hold opaque bytes for everything the matcher must not interpret (record
keys, pointer tokens) and canonical bytes for consent and contact cards, so
the store never depends on protobuf or on the consent rules.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "AGENCY_MARK_NODE",
    "AgencyCounts",
    "AgencyRow",
    "AuditRow",
    "BatchRow",
    "DisclosureRow",
    "EdgeRow",
    "EventKind",
    "EventRecord",
    "EventRow",
    "IndexChange",
    "IndexRecord",
    "LinkMember",
    "LinkageRunRow",
    "NewRecord",
    "OutcomeReleaseRow",
    "RecordEventRow",
    "RecordListing",
    "StoredRecordRef",
]


@dataclass(frozen=True, slots=True)
class AgencyRow:
    """An enrolled agency. ``agency_no`` is a small integer fixed at enrolment."""

    agency_id: str
    agency_no: int
    display_name: str
    contact_card: bytes
    create_time_us: int
    update_time_us: int


@dataclass(frozen=True, slots=True)
class NewRecord:
    """A record about to be inserted; the store assigns its node ID."""

    agency_id: str
    record_key: bytes
    key_epoch: int
    schema_fingerprint: str
    clk: bytes
    pointer_token: bytes
    consent: bytes
    linkable: bool
    content_digest: bytes
    update_time_us: int


@dataclass(frozen=True, slots=True)
class StoredRecordRef:
    """What the ingest path needs to know about an existing record."""

    node_id: int
    record_key: bytes
    clk: bytes
    pointer_token: bytes
    content_digest: bytes
    consent: bytes
    linkable: bool
    link_id: int | None


@dataclass(frozen=True, slots=True)
class IndexRecord:
    """One linkable record as loaded into the in-memory CLK index."""

    node_id: int
    agency_no: int
    clk: bytes


@dataclass(frozen=True, slots=True)
class ReadPositions:
    """Where the store stands for a reader: the newest entry of the index change feed (0
    if none) and the newest linkage run (None if none)."""

    last_index_change: int
    last_run_id: int | None


@dataclass(frozen=True, slots=True)
class IndexChange:
    """One entry of the index change feed: a node joined or left the CLK index.

    ``clk`` is the node's CLK for an addition whose record still exists, else
    None. Other matcher processes on the same store replay the feed to keep
    their in-memory indexes current.
    """

    sequence: int
    node_id: int
    added: bool
    clk: bytes | None


#: The node ID of the index-change entry an agency change (an enrolment, a confirmed
#: display name or contact card) appends: no record has it (node IDs start at 1, and a
#: key rotation's mark is 0), so older readers ignore it, and a matcher process that
#: replays it reads the agencies it caches again.
AGENCY_MARK_NODE = -1


@dataclass(frozen=True, slots=True)
class EdgeRow:
    """A candidate pair at or above the threshold; ``node_a < node_b``."""

    node_a: int
    node_b: int
    score: float


@dataclass(frozen=True, slots=True)
class LinkMember:
    """A record of a link, as the lookup path needs it."""

    link_id: int
    node_id: int
    agency_id: str
    record_key: bytes
    pointer_token: bytes
    consent: bytes


class EventKind(enum.Enum):
    """Kinds of event-log entries (mirrors ``linkage.v1.Event.Kind``)."""

    BATCH_COMMITTED = "batch_committed"
    RECORD_WITHDRAWN = "record_withdrawn"
    LINK_CREATED = "link_created"
    LINK_JOINED = "link_joined"
    LINK_MERGED = "link_merged"
    LINK_SPLIT = "link_split"
    LINK_DISSOLVED = "link_dissolved"
    LINK_LEFT = "link_left"
    LINKS_REBUILT = "links_rebuilt"
    AGENCY_CHANGED = "agency_changed"


@dataclass(frozen=True, slots=True)
class EventRow:
    """One event-log entry. ``sequence`` is 0 until stored."""

    kind: EventKind
    event_time_us: int
    agency_id: str | None = None
    batch_id: str | None = None
    source_links: tuple[int, ...] = ()
    target_links: tuple[int, ...] = ()
    record_count: int = 0
    sequence: int = 0


@dataclass(frozen=True, slots=True)
class BatchRow:
    """A committed batch: the digest of its request and its original response."""

    agency_id: str
    batch_id: str
    request_digest: bytes
    response: bytes
    commit_time_us: int


@dataclass(frozen=True, slots=True)
class LinkageRunRow:
    """A full rebuild of the links."""

    run_id: int
    start_time_us: int
    end_time_us: int
    record_count: int
    candidate_pair_count: int
    link_count: int
    changed_link_count: int
    threshold: float
    reason: str
    model: str = ""


@dataclass(frozen=True, slots=True)
class RecordListing:
    """A record as shown to its own agency."""

    record_key: bytes
    consent: bytes
    linked: bool
    update_time_us: int


@dataclass(frozen=True, slots=True)
class AgencyCounts:
    """Counts for one agency."""

    agency_id: str
    record_count: int
    linked_record_count: int
    batch_count: int
    last_batch_id: str | None
    last_batch_time_us: int | None


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One entry of the hash-chained audit log as stored."""

    sequence: int
    entry_time_us: int
    actor: str
    action: str
    target_ids: tuple[str, ...]
    details: str
    prev_hash: bytes
    entry_hash: bytes


@dataclass(frozen=True, slots=True)
class DisclosureRow:
    """One disclosure of one record to a responder."""

    agency_id: str
    record_key: bytes
    link_id: int
    recipient: str
    recipient_agency: str
    purpose: str
    disclose_time_us: int
    audit_sequence: int


@dataclass(frozen=True, slots=True)
class RecordEventRow:
    """One programme event of a record as stored: a vocabulary code, the day (days since
    1970-01-01) and a disposition code (``""`` for none). The store does not interpret
    them; :mod:`linkage.events` does."""

    node_id: int
    code: str
    day: int
    disposition: str


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A record that has events, as the outcome measures need it: its link (None when it
    is in none), agency and canonical consent."""

    node_id: int
    link_id: int | None
    agency_id: str
    consent: bytes


@dataclass(frozen=True, slots=True)
class OutcomeReleaseRow:
    """One entry of a programme's privacy-budget ledger: a released set of outcome
    measures (``content``: the release as JSON, aggregates only), the epsilon it spent and
    the digest of the query it answered. ``release_id`` is 0 until stored."""

    programme: str
    query_digest: bytes
    epsilon: float
    create_time_us: int
    actor: str
    audit_sequence: int
    content: bytes
    release_id: int = 0
