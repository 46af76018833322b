"""Write people's programme events straight into a link store, one record per person
and agency and one link per person, without the matcher (for the outcome tests and
bench_outcomes.py: the index as the matcher would leave it with perfect links).

Each person is a list of ``(agency, code, day, disposition)`` events; a person's records
carry an evaluation consent unless the person is named in ``no_evaluation``."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, date, datetime

from linkage.consent import Consent, Purpose, serialize_consent
from linkage.events import Disposition, EventCode, day_number
from linkage.store import LinkStore, NewRecord, RecordEventRow

__all__ = ["EVALUATION_CONSENT", "NO_EVALUATION_CONSENT", "PersonEvents", "fill_store"]

PersonEvents = Sequence[tuple[str, EventCode, date, Disposition | None]]
EVALUATION_CONSENT = serialize_consent(
    Consent(
        allow_linkage=True,
        purposes=frozenset({Purpose.EVALUATION}),
        expires_at=datetime(2099, 1, 1, tzinfo=UTC),
    )
)
NO_EVALUATION_CONSENT = serialize_consent(Consent.no_disclosure())


def fill_store(
    store: LinkStore,
    people: Mapping[object, PersonEvents],
    agencies: Sequence[str],
    *,
    no_evaluation: Collection[object] = (),
    chunk: int = 20_000,
) -> dict[object, int]:
    """Enrol the agencies, write the records, events and links; returns each person's
    link ID."""
    with store.write() as tx:
        for agency in agencies:
            if store.get_agency(agency) is None:
                tx.insert_agency(agency, agency, b"", 1)
    keys = list(people)
    links: dict[object, int] = {}
    for start in range(0, len(keys), chunk):
        part = keys[start : start + chunk]
        with store.write() as tx:
            link_ids = tx.allocate_link_ids(len(part), 1)
            assignments: list[tuple[int, int]] = []
            rows: list[RecordEventRow] = []
            for person, link_id in zip(part, link_ids, strict=True):
                links[person] = link_id
                by_agency: dict[str, list[RecordEventRow]] = defaultdict(list)
                consent = NO_EVALUATION_CONSENT if person in no_evaluation else EVALUATION_CONSENT
                for agency, code, day, disposition in people[person]:
                    by_agency[agency].append(
                        RecordEventRow(
                            0,
                            code.value,
                            day_number(day),
                            "" if disposition is None else disposition.value,
                        )
                    )
                for agency, events in by_agency.items():
                    key = hashlib.sha256(f"{agency}/{person}".encode()).digest()
                    node = tx.insert_record(
                        NewRecord(
                            agency_id=agency,
                            record_key=key,
                            key_epoch=1,
                            schema_fingerprint="outcomes",
                            clk=b"\0" * 8,
                            pointer_token=b"p" + key[:16],
                            consent=consent,
                            linkable=True,
                            content_digest=key,
                            update_time_us=1,
                        )
                    )
                    assignments.append((node, link_id))
                    rows.extend(RecordEventRow(node, e.code, e.day, e.disposition) for e in events)
            tx.assign_links(assignments, 1)
            tx.insert_record_events(rows)
    return links
