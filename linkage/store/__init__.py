"""Link-index storage behind one interface: SQLite (WAL) by default.

``PostgresLinkStore`` (the production engine) is imported lazily, on first
use, so that importing this package never requires the optional ``postgres``
extra (psycopg).
"""

from typing import TYPE_CHECKING

from linkage.store._card_proposals import ContactCardProposalRow
from linkage.store._epochs import (
    ROTATION_MARK_NODE,
    EpochCounts,
    KeyRotationRow,
    NextEpochRecord,
)
from linkage.store._interface import GraphReads, LinkStore, WriteTransaction
from linkage.store._model import (
    AGENCY_MARK_NODE,
    AgencyCounts,
    AgencyRow,
    AuditRow,
    BatchRow,
    DisclosureRow,
    EdgeRow,
    EventKind,
    EventRecord,
    EventRow,
    IndexChange,
    IndexRecord,
    LinkageRunRow,
    LinkMember,
    NewRecord,
    OutcomeReleaseRow,
    ReadPositions,
    RecordEventRow,
    RecordListing,
    StoredRecordRef,
)
from linkage.store._sqlite import SqliteLinkStore

if TYPE_CHECKING:
    from linkage.store._postgres import PostgresLinkStore

__all__ = [
    "AGENCY_MARK_NODE",
    "ROTATION_MARK_NODE",
    "AgencyCounts",
    "AgencyRow",
    "AuditRow",
    "BatchRow",
    "ContactCardProposalRow",
    "DisclosureRow",
    "EdgeRow",
    "EpochCounts",
    "EventKind",
    "EventRecord",
    "EventRow",
    "GraphReads",
    "IndexChange",
    "IndexRecord",
    "KeyRotationRow",
    "LinkMember",
    "LinkStore",
    "LinkageRunRow",
    "NewRecord",
    "NextEpochRecord",
    "OutcomeReleaseRow",
    "PostgresLinkStore",
    "ReadPositions",
    "RecordEventRow",
    "RecordListing",
    "SqliteLinkStore",
    "StoredRecordRef",
    "WriteTransaction",
]


def __getattr__(name: str) -> object:
    if name == "PostgresLinkStore":
        from linkage.store._postgres import PostgresLinkStore

        return PostgresLinkStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
