"""Upload, withdraw and consent as planned, stored, resumable batches.

Every command that changes what the matcher holds works in two steps:

1. **Plan**: compute the mutations (for an upload: encode the export, derive record
   keys, compare keyed CLK digests and consents with the local state, so only new,
   changed and removed records are sent), split them into batches of
   ``[matcher] batch_size`` and store the exact serialised requests in the state
   file as pending batches, in one transaction.
2. **Send**: stream the pending batches with ``StreamWriteBatches``. Each response
   means that batch is durable; only then is it applied to the state and deleted,
   in one transaction.

An interrupted run leaves the unacknowledged batches pending; the next command
sends them first, byte for byte. A batch that was committed but whose response
was lost is answered by the matcher as a replay of the original (idempotent by
batch ID), so nothing is ever applied twice.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Protocol

from agency_client._client_config import ClientConfig, load_client_config
from agency_client._clkfile import read_clk_batches
from agency_client._keys import AgencyKeys
from agency_client._matcher import MatcherClient, consent_to_proto
from agency_client._pipeline import encode_export
from agency_client._state import (
    EFFECT_CONSENT,
    EFFECT_UPSERT,
    EFFECT_WITHDRAW,
    Effect,
    UploadState,
)
from agency_client.pointer import PointerKey, load_pointer_key, seal_pointer
from linkage.consent import Consent, parse_consent, serialize_consent
from linkage.encode import schema_fingerprint
from linkage.errors import (
    ConfigError,
    FailedPreconditionError,
    NotFoundError,
    Problem,
    UnavailableError,
)
from linkage.v1 import ingest_pb2

__all__ = [
    "AgencySession",
    "BatchSender",
    "ConsentPlan",
    "SendReport",
    "UploadPlan",
    "open_session",
    "plan_consent",
    "plan_upload",
    "plan_withdrawal",
    "send_pending",
]

#: Planned withdrawals above this share of the held records need ``allow_mass_withdrawal``.
MASS_WITHDRAWAL_SHARE: Final = 0.5
MASS_WITHDRAWAL_MIN: Final = 10
_RETRY_DELAYS_S: Final = (1.0, 2.0, 4.0)


@dataclass(frozen=True, slots=True)
class AgencySession:
    """A loaded config with the agency's keys."""

    config: ClientConfig
    pointer_key: PointerKey = field(repr=False)
    keys: AgencyKeys = field(repr=False)
    pointer_epoch: int
    fingerprint: str

    @property
    def agency_id(self) -> str:
        return self.config.agency_id

    def state(self) -> UploadState:
        return UploadState(self.config.state_file)

    def matcher(self) -> MatcherClient:
        return MatcherClient(self.config.matcher_address, self.config.agency_tls)

    def seal(self, local_id: str) -> bytes:
        return seal_pointer(self.pointer_key, self.agency_id, self.pointer_epoch, local_id)


def open_session(config_path: Path, environ: Mapping[str, str]) -> AgencySession:
    """Load ``agency.toml``, its secret and the pointer key."""
    config = load_client_config(config_path, environ)
    pointer_key = load_pointer_key(config.pointer_key_file)
    return AgencySession(
        config=config,
        pointer_key=pointer_key,
        keys=AgencyKeys.from_pointer_key(pointer_key, config.agency_id),
        pointer_epoch=1,
        fingerprint=schema_fingerprint(config.encoding.schema),
    )


def _batch_id(operation: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{operation}-{stamp}-{secrets.token_hex(4)}"


class _Batcher:
    """Collects mutations into serialised batches of at most ``size``."""

    def __init__(self, session: AgencySession, operation: str, withdraw_all: bool = False) -> None:
        self.session = session
        self.operation = operation
        self.run_id = _batch_id(operation)
        self.size = session.config.batch_size
        self.first_withdraws_all = withdraw_all
        self.batches: list[tuple[str, bool, int, bytes, Sequence[Effect]]] = []
        self._mutations: list[ingest_pb2.RecordMutation] = []
        self._effects: list[Effect] = []

    def add(self, mutation: ingest_pb2.RecordMutation, effect: Effect) -> None:
        self._mutations.append(mutation)
        self._effects.append(effect)
        if len(self._mutations) >= self.size:
            self.flush()

    def flush(self, *, force: bool = False) -> None:
        if not self._mutations and not (force and self.first_withdraws_all and not self.batches):
            return
        withdraw_all = self.first_withdraws_all and not self.batches
        batch_id = f"{self.run_id}-{len(self.batches) + 1:06d}"
        request = ingest_pb2.WriteBatchRequest(
            parent=self.session.config.parent,
            batch_id=batch_id,
            key_epoch=self.session.config.encoding.key_epoch,
            schema_fingerprint=self.session.fingerprint,
            mutations=self._mutations,
            withdraw_all=withdraw_all,
        )
        self.batches.append(
            (
                batch_id,
                withdraw_all,
                len(self._mutations),
                request.SerializeToString(),
                tuple(self._effects),
            )
        )
        self._mutations = []
        self._effects = []


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

    @property
    def to_send(self) -> int:
        return self.new + self.changed + self.withdrawn


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
    progress: Callable[[int], object] | None = None,
) -> UploadPlan:
    """Encode ``export_path`` and store the batches that bring the matcher up to date."""
    started = time.perf_counter()
    config = session.config
    id_column = config.record_id_column
    if id_column is None:
        raise ConfigError(
            "uploads need a local record ID column: set [input] record_key in agency.toml"
        )
    if state.pending_summary()[0]:
        raise FailedPreconditionError(
            "earlier batches are still pending; send them first (agency-client upload does)"
        )
    held = state.records()
    default_bytes = serialize_consent(config.default_consent)
    default_id = state.consent_id(default_bytes)
    consent_protos: dict[int, object] = {}

    def consent_proto(consent_id: int) -> object:
        if consent_id not in consent_protos:
            consent_protos[consent_id] = consent_to_proto(
                parse_consent(state.consent_bytes(consent_id))
            )
        return consent_protos[consent_id]

    batcher = _Batcher(session, "upload", withdraw_all=replace_all)
    seen: dict[bytes, int] = {}
    problems: list[Problem] = []
    new = changed = unchanged = duplicates = 0
    state.path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=".encoded-", suffix=".clk", dir=state.path.parent)
    os.close(handle)
    temp = Path(temp_name)
    try:
        report = encode_export(
            config.encoding,
            export_path,
            temp,
            strict=strict,
            workers=workers,
            output_format="clk",
            progress=progress,
        )
        problems.extend(report.problems)
        for batch in read_clk_batches(temp):
            assert batch.record_keys is not None
            for row, local_id, clk_row in zip(
                batch.row_numbers.tolist(), batch.record_keys, batch.clks, strict=True
            ):
                key = session.keys.record_key(local_id)
                first = seen.get(key)
                if first is not None:
                    duplicates += 1
                    problems.append(
                        Problem(
                            f"row {row}, column {id_column}",
                            f"repeats the record ID of row {first}; the first one is used",
                        )
                    )
                    continue
                seen[key] = row
                entry = held.get(key)
                explicit = entry is not None and entry.explicit
                consent_id = entry.consent_id if entry is not None and explicit else default_id
                clk = clk_row.tobytes()
                digest = session.keys.clk_digest(clk)
                if (
                    not replace_all
                    and entry is not None
                    and entry.clk_digest == digest
                    and entry.consent_id == consent_id
                ):
                    unchanged += 1
                    continue
                if entry is None:
                    new += 1
                else:
                    changed += 1
                if dry_run:
                    continue
                batcher.add(
                    ingest_pb2.RecordMutation(
                        upsert=ingest_pb2.RecordUpsert(
                            record_key=key,
                            clk=clk,
                            pointer_token=session.seal(local_id),
                            consent=consent_proto(consent_id),  # type: ignore[arg-type]
                        )
                    ),
                    Effect(key, EFFECT_UPSERT, digest, consent_id, explicit),
                )
    finally:
        temp.unlink(missing_ok=True)
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
    batcher.flush(force=replace_all)
    if not dry_run:
        state.add_pending("upload", batcher.batches)
        state.set_meta("last_export", str(export_path.resolve()))
        state.set_meta("last_plan_time", datetime.now(UTC).isoformat(timespec="seconds"))
    return UploadPlan(
        rows_read=report.rows_read,
        new=new,
        changed=changed,
        unchanged=unchanged,
        withdrawn=0 if replace_all else len(gone),
        skipped_rows=report.rows_skipped + duplicates,
        problems=tuple(problems),
        batches=len(batcher.batches),
        seconds=time.perf_counter() - started,
    )


# --------------------------------------------------------------------------- withdraw


def plan_withdrawal(
    session: AgencySession, state: UploadState, local_ids: Sequence[str], *, everything: bool
) -> int:
    """Store batches withdrawing ``local_ids`` (or everything); returns the records concerned."""
    if state.pending_summary()[0]:
        raise FailedPreconditionError("earlier batches are still pending; send them first")
    batcher = _Batcher(session, "withdraw", withdraw_all=everything)
    if everything:
        batcher.flush(force=True)
        state.add_pending("withdraw", batcher.batches)
        return state.record_count()
    keys = _known_keys(session, state, local_ids)
    for key in dict.fromkeys(keys):
        batcher.add(
            ingest_pb2.RecordMutation(withdraw_record_key=key), Effect(key, EFFECT_WITHDRAW)
        )
    batcher.flush()
    state.add_pending("withdraw", batcher.batches)
    return len(set(keys))


def _known_keys(
    session: AgencySession, state: UploadState, local_ids: Sequence[str]
) -> list[bytes]:
    keys = [session.keys.record_key(local_id) for local_id in local_ids]
    unknown = [
        Problem(f"record ID #{i + 1}", "was never uploaded by this agency (or was withdrawn)")
        for i, key in enumerate(keys)
        if state.record(key) is None
    ]
    if unknown:
        raise NotFoundError(
            "some record IDs are not held by the matcher according to the local state; "
            "check the IDs (nothing was sent)",
            problems=unknown[:50],
        )
    return keys


# --------------------------------------------------------------------------- consent


@dataclass(frozen=True, slots=True)
class ConsentPlan:
    """One record's new consent (``None``: revoke the consent it has)."""

    local_id: str
    consent: Consent | None


def plan_consent(session: AgencySession, state: UploadState, changes: Sequence[ConsentPlan]) -> int:
    """Store batches of ConsentUpdate mutations; returns how many records they change."""
    if state.pending_summary()[0]:
        raise FailedPreconditionError("earlier batches are still pending; send them first")
    keys = _known_keys(session, state, [c.local_id for c in changes])
    batcher = _Batcher(session, "consent")
    done: set[bytes] = set()
    for key, change in zip(keys, changes, strict=True):
        if key in done:
            continue
        done.add(key)
        if change.consent is None:
            entry = state.record(key)
            assert entry is not None
            consent = parse_consent(state.consent_bytes(entry.consent_id)).revoke()
        else:
            consent = change.consent
        consent_id = state.consent_id(serialize_consent(consent))
        batcher.add(
            ingest_pb2.RecordMutation(
                consent_update=ingest_pb2.ConsentUpdate(
                    record_key=key, consent=consent_to_proto(consent)
                )
            ),
            Effect(key, EFFECT_CONSENT, None, consent_id, True),
        )
    batcher.flush()
    state.add_pending("consent", batcher.batches)
    return len(done)


# --------------------------------------------------------------------------- send


class BatchSender(Protocol):
    """What :func:`send_pending` needs of a matcher client."""

    def stream_batches(
        self, requests: Iterable[ingest_pb2.WriteBatchRequest]
    ) -> Iterator[ingest_pb2.WriteBatchResponse]: ...


@dataclass(slots=True)
class SendReport:
    """What the matcher acknowledged in one send."""

    batches: int = 0
    replayed: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    consent_updated: int = 0
    linked: int = 0
    retries: int = 0

    def add(self, response: ingest_pb2.WriteBatchResponse) -> None:
        self.batches += 1
        self.replayed += int(response.replayed)
        self.inserted += response.inserted_count
        self.updated += response.updated_count
        self.unchanged += response.unchanged_count
        self.withdrawn += response.withdrawn_count
        self.consent_updated += response.consent_updated_count
        self.linked += response.linked_count


def send_pending(
    state: UploadState,
    client: BatchSender,
    *,
    progress: Callable[[int], object] | None = None,
    retry_delays: Sequence[float] = _RETRY_DELAYS_S,
    sleep: Callable[[float], object] = time.sleep,
) -> SendReport:
    """Send every pending batch; each is applied to the state only once acknowledged.

    Transient failures (the matcher unreachable) are retried after ``retry_delays``;
    if they persist, :class:`UnavailableError` is raised with the rest still pending.
    """
    report = SendReport()
    attempt = 0
    while True:
        pending = list(state.pending())
        if not pending:
            return report
        try:
            requests = (ingest_pb2.WriteBatchRequest.FromString(p.request) for p in pending)
            acknowledged = 0
            for batch, response in zip(pending, client.stream_batches(requests), strict=False):
                if response.name and not response.name.endswith("/batches/" + batch.batch_id):
                    raise FailedPreconditionError(
                        "the matcher acknowledged a batch out of order; nothing more was "
                        "applied locally; run the same command again"
                    )
                state.acknowledge(batch.seq)
                report.add(response)
                acknowledged += 1
                if progress is not None:
                    progress(batch.mutation_count)
            if acknowledged < len(pending):
                raise UnavailableError(
                    "the matcher closed the stream early; run the same command again "
                    "(acknowledged batches are kept)"
                )
        except UnavailableError:
            if attempt >= len(retry_delays):
                raise
            sleep(retry_delays[attempt])
            attempt += 1
            report.retries += 1


@contextlib.contextmanager
def matcher_for(session: AgencySession) -> Iterator[MatcherClient]:
    client = session.matcher()
    try:
        yield client
    finally:
        client.close()
