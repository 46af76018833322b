"""Upload, withdraw and consent as planned, stored, resumable batches.

Every command that changes what the matcher holds works in two steps:

1. **Plan**: compute the mutations (for an upload: derive record keys, compare keyed
   digests of each row's mapped cells and the consents with the local state, encode
   only new and changed rows, and withdraw records missing from the export), split
   them into batches of ``[matcher] batch_size`` and store the exact serialised
   requests in the state file as pending batches, in one transaction.
2. **Send**: stream the pending batches with ``StreamWriteBatches``. Each response
   means that batch is durable; only then is it applied to the state and deleted,
   in one transaction.

An interrupted run leaves the unacknowledged batches pending; the next command
sends them first, byte for byte. This module plans uploads;
:mod:`agency_client._withdraw_consent_plans` plans withdrawals and consent changes,
:mod:`agency_client._sending` sends, :mod:`agency_client._session` holds the loaded
configuration, keys and the batcher all of them use. A batch that was committed but whose response
was lost is answered by the matcher as a replay of the original (idempotent by
batch ID), so nothing is ever applied twice.
"""

from __future__ import annotations

import csv
import hashlib
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from agency_client._config import AgencyConfig
from agency_client._contacts import FieldContactRecord
from agency_client._csvlines import bounded_lines
from agency_client._events import EventsFile, events_digest_cell
from agency_client._mapping import ChunkResult, EncodeWorkerFactory, RowMapper
from agency_client._matcher import consent_to_proto
from agency_client._pipeline import MAX_KEPT_PROBLEMS
from agency_client._session import AgencySession, Batcher
from agency_client._state import (
    EFFECT_UPSERT,
    EFFECT_WITHDRAW,
    Effect,
    StateEntry,
    UploadState,
)
from linkage.consent import parse_consent, serialize_consent
from linkage.encode import PLACEHOLDER_RULES_VERSION, map_ordered
from linkage.errors import (
    ConfigError,
    FailedPreconditionError,
    InvalidInputError,
    Problem,
    RowError,
)
from linkage.events import RecordEvent
from linkage.v1 import common_pb2, ingest_pb2

__all__ = ["UploadPlan", "event_protos", "plan_upload"]

#: Planned withdrawals above this share of the held records need ``allow_mass_withdrawal``.
MASS_WITHDRAWAL_SHARE: Final = 0.5
MASS_WITHDRAWAL_MIN: Final = 10


# --------------------------------------------------------------------------- upload


@dataclass(frozen=True, slots=True)
class UploadPlan:
    """What an upload will send (counts only; problems name rows and columns)."""

    rows_read: int
    new: int
    changed: int
    unchanged: int
    withdrawn: int
    skipped_rows: int
    problems: tuple[Problem, ...]
    batches: int
    seconds: float
    #: events read from the events file (``--events``), for the records of the export
    events: int = 0
    #: field-contact records (contacts logged on the gateway page) new or changed
    field_contacts: int = 0

    @property
    def to_send(self) -> int:
        return self.new + self.changed + self.withdrawn


def _renumber(location: str, numbers: Sequence[int]) -> str:
    """``row K, column C`` of a subset chunk -> the row's number in the export."""
    head, sep, rest = location.partition(",")
    if head.startswith("row ") and head[4:].isdigit():
        return f"row {numbers[int(head[4:]) - 1]}{sep}{rest}"
    return location


@dataclass(frozen=True, slots=True)
class _SubsetEncodeFactory:
    """Encodes chunks of ``(row numbers, rows)`` that need not be consecutive (picklable)."""

    inner: EncodeWorkerFactory

    def __call__(self) -> Callable[[tuple[list[int], list[list[str]]]], ChunkResult]:
        worker = self.inner()

        def run(chunk: tuple[list[int], list[list[str]]]) -> ChunkResult:
            numbers, rows = chunk
            result = worker((1, rows))
            return ChunkResult(
                row_numbers=[numbers[k - 1] for k in result.row_numbers],
                record_keys=result.record_keys,
                clks=result.clks,
                problems=[
                    Problem(_renumber(p.location, numbers), p.reason) for p in result.problems
                ],
                substitutions=[],
            )

        return run


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A row that must be (re-)encoded and sent."""

    local_id: str
    key: bytes
    digest: bytes
    consent_id: int
    explicit: bool
    is_new: bool
    events: tuple[RecordEvent, ...] = ()


def _mapping_signature(config: AgencyConfig, fingerprint: str) -> bytes:
    """Everything besides the cells that decides a CLK: schema, epoch, column mapping (its
    transforms and declared missing values included) and the built-in placeholder rules."""
    text = repr(
        (
            fingerprint,
            config.key_epoch,
            config.record_key,
            config.features,
            ("placeholders", PLACEHOLDER_RULES_VERSION),
        )
    )
    return hashlib.sha256(text.encode("utf-8")).digest()


def event_protos(events: Sequence[RecordEvent]) -> list[ingest_pb2.RecordEvent]:
    """The wire form of a record's events."""
    return [
        ingest_pb2.RecordEvent(
            code=e.code.value,
            date=e.day.isoformat(),
            disposition="" if e.disposition is None else e.disposition.value,
        )
        for e in events
    ]


def plan_upload(
    session: AgencySession,
    state: UploadState,
    export_path: Path,
    *,
    workers: int | None = None,
    strict: bool = False,
    replace_all: bool = False,
    allow_mass_withdrawal: bool = False,
    dry_run: bool = False,
    chunk_rows: int = 4096,
    progress: Callable[[int], object] | None = None,
    events: EventsFile | None = None,
    field_contacts: Sequence[FieldContactRecord] = (),
) -> UploadPlan:
    """Store the batches that bring the matcher up to date with ``export_path``.

    A keyed digest of each row's mapped cells (with the schema, key epoch and mapping)
    tells unchanged rows apart without normalising or encoding them; only new and
    changed rows are encoded, on all cores, streamed in chunks. ``events`` (an events
    file) are all the programme events of the export's records: they are part of each
    record's digest, so a record whose events changed is sent again. ``field_contacts``
    are the records of contacts logged on the gateway page (already encoded); they are
    sent when new or changed and never withdrawn for being absent from the export.
    """
    started = time.perf_counter()
    config = session.config
    encoding = config.encoding
    id_column = config.record_id_column
    if id_column is None:
        raise ConfigError(
            "uploads need a local record ID column: set [input] record_key in agency.toml"
        )
    if not dry_run and state.pending_summary()[0]:
        raise FailedPreconditionError(
            "earlier batches are still pending; send them first (agency-client upload does)"
        )
    held = state.records()
    default_id = state.consent_id(serialize_consent(config.default_consent))
    consent_protos: dict[int, common_pb2.Consent] = {}

    def consent_proto(consent_id: int) -> common_pb2.Consent:
        if consent_id not in consent_protos:
            consent_protos[consent_id] = consent_to_proto(
                parse_consent(state.consent_bytes(consent_id))
            )
        return consent_protos[consent_id]

    signature = _mapping_signature(encoding, session.fingerprint)
    batcher = Batcher(session, "upload", withdraw_all=replace_all)
    seen: dict[bytes, int] = {}
    problems: list[Problem] = []
    counts = {"new": 0, "changed": 0, "unchanged": 0, "duplicates": 0, "bad": 0, "rows": 0}
    metas: deque[dict[int, _Candidate]] = deque()
    record_events: Mapping[str, tuple[RecordEvent, ...]] = {} if events is None else events.events
    seen_ids: set[str] = set()
    counts["field_contacts"] = _plan_field_contacts(
        session,
        held,
        default_id,
        field_contacts,
        seen,
        batcher,
        consent_proto,
        replace_all=replace_all,
        dry_run=dry_run,
    )

    try:
        source = export_path.open(newline="", encoding=encoding.encoding)
    except OSError as exc:
        raise InvalidInputError(f"cannot read {export_path.name}: {exc.strerror}") from None
    with source:
        reader = csv.reader(bounded_lines(source, export_path.name), delimiter=encoding.delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise InvalidInputError(f"{export_path.name} is empty (no header row)") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InvalidInputError(
                f"{export_path.name}: the header cannot be read: {exc}"
            ) from None
        RowMapper(encoding, header)  # fails early on missing columns
        positions: dict[str, int] = {}
        for index, name in enumerate(header):
            positions.setdefault(name.strip(), index)
        id_index = positions[id_column]
        cells = [positions[c] for c in encoding.columns]
        width = len(header)

        def chunks() -> Iterator[tuple[list[int], list[list[str]]]]:
            numbers: list[int] = []
            rows: list[list[str]] = []
            meta: dict[int, _Candidate] = {}
            try:
                for number, row in enumerate(reader, start=1):
                    counts["rows"] = number
                    if progress is not None and number % 1024 == 0:
                        progress(1024)
                    local_id = row[id_index].strip() if len(row) == width else ""
                    if local_id:
                        key = session.keys.record_key(local_id)
                        first = seen.get(key)
                        if first is not None:
                            counts["duplicates"] += 1
                            problems.append(
                                Problem(
                                    f"row {number}, column {id_column}",
                                    f"repeats the record ID of row {first}; the first one is used",
                                )
                            )
                            continue
                        seen[key] = number
                        seen_ids.add(local_id)
                        entry = held.get(key)
                        explicit = entry is not None and entry.explicit
                        consent_id = (
                            entry.consent_id if entry is not None and explicit else default_id
                        )
                        row_events = record_events.get(local_id, ())
                        digest = session.keys.row_digest(
                            signature,
                            [row[i].strip() for i in cells] + events_digest_cell(row_events),
                        )
                        if (
                            not replace_all
                            and entry is not None
                            and entry.row_digest == digest
                            and entry.consent_id == consent_id
                        ):
                            counts["unchanged"] += 1
                            continue
                        meta[number] = _Candidate(
                            local_id, key, digest, consent_id, explicit, entry is None, row_events
                        )
                    numbers.append(number)  # rows without an ID go on, to be reported
                    rows.append(row)
                    if len(rows) >= chunk_rows:
                        metas.append(meta)
                        yield numbers, rows
                        numbers, rows, meta = [], [], {}
            except csv.Error as exc:
                raise InvalidInputError(
                    f"{export_path.name}: the CSV cannot be parsed near data row "
                    f"{counts['rows'] + 1}: {exc}"
                ) from None
            except UnicodeDecodeError:
                raise InvalidInputError(
                    f"{export_path.name} is not valid {encoding.encoding} text"
                ) from None
            if rows:
                metas.append(meta)
                yield numbers, rows

        factory = _SubsetEncodeFactory(EncodeWorkerFactory(encoding, tuple(header)))
        for result in map_ordered(factory, chunks(), workers=workers):
            meta = metas.popleft()
            problems.extend(result.problems)
            counts["bad"] += len({p.location.split(",")[0] for p in result.problems})
            for number, clk_row in zip(result.row_numbers, result.clks, strict=True):
                candidate = meta[number]
                counts["new" if candidate.is_new else "changed"] += 1
                if dry_run:
                    continue
                batcher.add(
                    ingest_pb2.RecordMutation(
                        upsert=ingest_pb2.RecordUpsert(
                            record_key=candidate.key,
                            clk=clk_row.tobytes(),
                            pointer_token=session.seal(candidate.local_id),
                            consent=consent_proto(candidate.consent_id),
                            events=event_protos(candidate.events),
                        )
                    ),
                    Effect(
                        candidate.key,
                        EFFECT_UPSERT,
                        candidate.digest,
                        candidate.consent_id,
                        candidate.explicit,
                    ),
                )
    if progress is not None:
        progress(counts["rows"] % 1024)
    if strict and problems:
        raise RowError(
            f"{export_path.name} has invalid rows (--strict: nothing was sent); "
            f"{len(problems)} problems, the first {min(len(problems), 50)} listed",
            problems=problems[:50],
        )
    if events is not None:
        missing = events.missing_from(seen_ids, export_path.name)
        if missing:
            raise InvalidInputError(
                f"{len(missing)} records of the events file are not in {export_path.name} "
                "(nothing was sent): every event must name a record of the export; the first "
                f"{min(len(missing), 50)} are listed",
                problems=missing[:50],
            )
    gone = [key for key in held if key not in seen]
    if (
        not replace_all
        and len(gone) > max(MASS_WITHDRAWAL_MIN, MASS_WITHDRAWAL_SHARE * len(held))
        and not allow_mass_withdrawal
    ):
        raise FailedPreconditionError(
            f"this export would withdraw {len(gone)} of the {len(held)} records the matcher "
            "holds; if the export is complete and that is intended, run again with "
            "--allow-mass-withdrawal; otherwise upload the complete export"
        )
    if not replace_all and not dry_run:
        for key in gone:
            batcher.add(
                ingest_pb2.RecordMutation(withdraw_record_key=key), Effect(key, EFFECT_WITHDRAW)
            )
    batcher.flush(force=replace_all and not dry_run)
    if not dry_run:
        state.add_pending("upload", batcher.batches)
        state.set_meta("last_export", str(export_path.resolve()))
        state.set_meta("last_plan_time", datetime.now(UTC).isoformat(timespec="seconds"))
    problems.sort(key=_row_of)
    return UploadPlan(
        rows_read=counts["rows"],
        new=counts["new"],
        changed=counts["changed"],
        unchanged=counts["unchanged"],
        withdrawn=0 if replace_all else len(gone),
        skipped_rows=counts["bad"] + counts["duplicates"],
        problems=tuple(problems[:MAX_KEPT_PROBLEMS]),
        batches=len(batcher.batches),
        seconds=time.perf_counter() - started,
        events=sum(len(record_events.get(i, ())) for i in seen_ids),
        field_contacts=counts["field_contacts"],
    )


def _plan_field_contacts(
    session: AgencySession,
    held: Mapping[bytes, StateEntry],
    default_id: int,
    records: Sequence[FieldContactRecord],
    seen: dict[bytes, int],
    batcher: Batcher,
    consent_proto: Callable[[int], common_pb2.Consent],
    *,
    replace_all: bool,
    dry_run: bool,
) -> int:
    """Add the new and changed field-contact records to the batches (each with the
    agency's default consent, or the one set for it); returns how many."""
    signature = hashlib.sha256(b"field-contact/v1\0" + session.fingerprint.encode()).digest()
    sent = 0
    for record in records:
        key = session.keys.record_key(record.local_id)
        seen[key] = 0
        entry = held.get(key)
        explicit = entry is not None and entry.explicit
        consent_id = entry.consent_id if entry is not None and explicit else default_id
        digest = session.keys.row_digest(
            signature, [record.clk.hex(), *events_digest_cell(record.events)]
        )
        if (
            not replace_all
            and entry is not None
            and entry.row_digest == digest
            and entry.consent_id == consent_id
        ):
            continue
        sent += 1
        if dry_run:
            continue
        batcher.add(
            ingest_pb2.RecordMutation(
                upsert=ingest_pb2.RecordUpsert(
                    record_key=key,
                    clk=record.clk,
                    pointer_token=session.seal(record.local_id),
                    consent=consent_proto(consent_id),
                    events=event_protos(record.events),
                )
            ),
            Effect(key, EFFECT_UPSERT, digest, consent_id, explicit),
        )
    return sent


def _row_of(problem: Problem) -> int:
    head = problem.location.split(",")[0]
    return int(head[4:]) if head.startswith("row ") and head[4:].isdigit() else 0
