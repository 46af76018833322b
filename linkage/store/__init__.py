"""Link-index storage behind one interface: SQLite (WAL) by default."""

from linkage.store._interface import LinkStore, WriteTransaction
from linkage.store._model import (
    AgencyCounts,
    AgencyRow,
    AuditRow,
    BatchRow,
    DisclosureRow,
    EdgeRow,
    EventKind,
    EventRow,
    IndexRecord,
    LinkageRunRow,
    LinkMember,
    NewRecord,
    RecordListing,
    StoredRecordRef,
)
from linkage.store._sqlite import SqliteLinkStore

__all__ = [
    "AgencyCounts",
    "AgencyRow",
    "AuditRow",
    "BatchRow",
    "DisclosureRow",
    "EdgeRow",
    "EventKind",
    "EventRow",
    "IndexRecord",
    "LinkMember",
    "LinkStore",
    "LinkageRunRow",
    "NewRecord",
    "RecordListing",
    "SqliteLinkStore",
    "StoredRecordRef",
    "WriteTransaction",
]
