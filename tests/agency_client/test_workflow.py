"""Planning and sending batches against an in-memory matcher with the real one's rules:
resumability, no duplicates, delta uploads, the state file, consent and withdrawal."""

from __future__ import annotations

import hashlib
import sqlite3
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from agency_client._keys import AgencyKeys
from agency_client._sending import SendReport, send_pending
from agency_client._state import UploadState
from agency_client._withdraw_consent_plans import ConsentPlan, plan_consent, plan_withdrawal
from agency_client._workflow import plan_upload
from agency_client.pointer import open_pointer
from linkage.consent import Consent, Purpose
from linkage.errors import (
    ConfigError,
    FailedPreconditionError,
    InvalidInputError,
    NotFoundError,
    RowError,
    UnavailableError,
)
from linkage.pki import Role
from linkage.v1 import ingest_pb2
from tests.agency_client.workflow_fixtures import AgencyFolder, make_agency_folder

pytestmark = pytest.mark.unit


class FakeMatcher:
    """Applies batches like the matcher: all or nothing, idempotent by batch ID.

    ``fail_after`` acknowledges that many batches of a stream, then fails as if the
    network broke; ``lose_ack`` commits the next batch but fails before answering.
    """

    def __init__(self) -> None:
        self.records: dict[bytes, ingest_pb2.RecordUpsert] = {}
        self.batches: dict[str, tuple[bytes, ingest_pb2.WriteBatchResponse]] = {}
        self.commits = 0
        self.fail_after: int | None = None
        self.lose_ack = False
        self.streams = 0
        #: streams the client read to their end (a dropped one is cancelled mid-call)
        self.streams_read_to_the_end = 0

    def _commit(self, request: ingest_pb2.WriteBatchRequest) -> ingest_pb2.WriteBatchResponse:
        digest = hashlib.sha256(request.SerializeToString(deterministic=True)).digest()
        if request.batch_id in self.batches:
            stored_digest, response = self.batches[request.batch_id]
            if stored_digest != digest:
                raise InvalidInputError("batch ID reused with other content")
            replay = ingest_pb2.WriteBatchResponse()
            replay.CopyFrom(response)
            replay.replayed = True
            return replay
        response = ingest_pb2.WriteBatchResponse(
            name=f"{request.parent}/batches/{request.batch_id}"
        )
        if request.withdraw_all:
            response.withdrawn_count += len(self.records)
            self.records.clear()
        for mutation in request.mutations:
            kind = mutation.WhichOneof("mutation")
            if kind == "upsert":
                key = mutation.upsert.record_key
                if key in self.records:
                    response.updated_count += 1
                else:
                    response.inserted_count += 1
                self.records[key] = mutation.upsert
            elif kind == "withdraw_record_key":
                assert mutation.withdraw_record_key in self.records, "no such record"
                del self.records[mutation.withdraw_record_key]
                response.withdrawn_count += 1
            else:
                key = mutation.consent_update.record_key
                assert key in self.records, "no such record"
                self.records[key].consent.CopyFrom(mutation.consent_update.consent)
                response.consent_updated_count += 1
        self.batches[request.batch_id] = (digest, response)
        self.commits += 1
        return response

    def stream_batches(
        self, requests: Iterable[ingest_pb2.WriteBatchRequest]
    ) -> Iterator[ingest_pb2.WriteBatchResponse]:
        self.streams += 1
        for acknowledged, request in enumerate(requests):
            if self.fail_after is not None and acknowledged >= self.fail_after:
                self.fail_after = None
                if self.lose_ack:
                    self.lose_ack = False
                    self._commit(request)
                raise UnavailableError("the network broke")
            yield self._commit(request)
        self.streams_read_to_the_end += 1


def _send(state: UploadState, matcher: FakeMatcher) -> SendReport:
    return send_pending(state, matcher, retry_delays=(), sleep=lambda s: None)


@pytest.fixture
def folder(tmp_path: Path) -> AgencyFolder:
    return make_agency_folder(tmp_path / "mhc", people=80, batch_size=10)


def _record_count(folder: AgencyFolder) -> int:
    return len({row[0] for row in folder.rows()[1:]})


def test_full_upload_sends_every_record_in_batches_and_records_them(folder: AgencyFolder) -> None:
    session, matcher = folder.session(), FakeMatcher()
    with session.state() as state:
        plan = plan_upload(session, state, folder.export, workers=1)
        assert plan.new == _record_count(folder)
        assert plan.changed == plan.withdrawn == 0
        assert plan.batches == -(-plan.new // 10)
        assert state.pending_summary() == (plan.batches, plan.new)
        report = _send(state, matcher)
        assert state.pending_summary() == (0, 0)
        assert state.record_count() == plan.new
    assert report.inserted == len(matcher.records) == plan.new
    assert matcher.streams_read_to_the_end == matcher.streams == 1
    keys = AgencyKeys.from_pointer_key(session.pointer_key, session.agency_id)
    for local_id in {row[0] for row in folder.rows()[1:]}:
        upsert = matcher.records[keys.record_key(local_id)]
        assert (
            open_pointer(session.pointer_key, session.agency_id, 1, upsert.pointer_token)
            == local_id
        )
        assert len(upsert.clk) == session.config.encoding.schema.length // 8


def test_record_keys_are_keyed_hashes_that_hide_local_ids(folder: AgencyFolder) -> None:
    session = folder.session()
    other = make_agency_folder(folder.root.parent / "other", people=5).session()
    key = session.keys.record_key("VMHC-10001")
    assert len(key) == 16
    assert key == session.keys.record_key("VMHC-10001")
    assert b"VMHC" not in key
    assert b"10001" not in key
    assert key != other.keys.record_key("VMHC-10001"), "another pointer key, another record key"
    assert session.keys.record_key("VMHC-10002") != key


def test_an_interrupted_upload_resumes_with_only_the_unacknowledged_batches(
    folder: AgencyFolder,
) -> None:
    session, matcher = folder.session(), FakeMatcher()
    matcher.fail_after = 3
    with session.state() as state:
        plan = plan_upload(session, state, folder.export, workers=1)
        with pytest.raises(UnavailableError):
            _send(state, matcher)
        assert matcher.commits == 3
        assert state.pending_summary()[0] == plan.batches - 3
        assert state.record_count() == 30, "only acknowledged batches reach the state"
        report = _send(state, matcher)
    assert report.batches == plan.batches - 3
    assert report.replayed == 0
    assert matcher.commits == plan.batches
    assert len(matcher.records) == plan.new


def test_a_lost_acknowledgement_is_answered_as_a_replay_never_applied_twice(
    folder: AgencyFolder,
) -> None:
    session, matcher = folder.session(), FakeMatcher()
    matcher.fail_after, matcher.lose_ack = 2, True
    with session.state() as state:
        plan = plan_upload(session, state, folder.export, workers=1)
        with pytest.raises(UnavailableError):
            _send(state, matcher)
        assert matcher.commits == 3, "the third batch was committed but not acknowledged"
        assert state.record_count() == 20
        report = _send(state, matcher)
        assert state.record_count() == plan.new
    assert report.replayed == 1
    assert matcher.commits == plan.batches, "the resend was a replay, not a second commit"


def test_transient_failures_are_retried_within_one_run(folder: AgencyFolder) -> None:
    session, matcher = folder.session(), FakeMatcher()
    matcher.fail_after = 1
    sleeps: list[float] = []
    with session.state() as state:
        plan_upload(session, state, folder.export, workers=1)
        report = send_pending(state, matcher, retry_delays=(0.5,), sleep=sleeps.append)
        assert state.pending_summary() == (0, 0)
    assert sleeps == [0.5]
    assert report.retries == 1
    assert matcher.streams == 2


def test_a_second_export_sends_only_new_changed_and_removed_records(folder: AgencyFolder) -> None:
    session, matcher = folder.session(), FakeMatcher()
    with session.state() as state:
        plan_upload(session, state, folder.export, workers=1)
        _send(state, matcher)
        rows = folder.rows()
        header, body = rows[0], rows[1:]
        street = header.index("street")
        body[0][street] = "Changed Street"
        body[1][street] = "Another Road"
        removed = body.pop(5)
        new_row = list(body[2])
        new_row[0] = "VMHC-99999"
        folder.write_rows([header, *body, new_row])
        plan = plan_upload(session, state, folder.export, workers=1)
        assert (plan.new, plan.changed, plan.withdrawn) == (1, 2, 1)
        assert plan.unchanged == len(body) - 2
        assert plan.batches == 1
        report = _send(state, matcher)
        assert state.record_count() == len(body) + 1
        again = plan_upload(session, state, folder.export, workers=1)
        assert again.to_send == 0
        assert again.batches == 0
    assert (report.inserted, report.updated, report.withdrawn) == (1, 2, 1)
    assert session.keys.record_key(removed[0]) not in matcher.records


def test_the_state_file_holds_no_pii_clks_or_local_ids_and_is_private(
    folder: AgencyFolder,
) -> None:
    session, matcher = folder.session(), FakeMatcher()
    with session.state() as state:
        plan_upload(session, state, folder.export, workers=1)
        _send(state, matcher)
    path = session.config.state_file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    raw = path.read_bytes() + b"".join(
        p.read_bytes() for p in path.parent.iterdir() if p.name != path.name
    )
    for row in folder.rows()[1:]:
        for value in (row[0], row[1], row[3], row[4]):  # local ID, names, date of birth
            if value:
                assert value.encode() not in raw
    for upsert in matcher.records.values():
        assert upsert.clk not in raw, "acknowledged batches leave no CLK behind"


def test_the_state_is_untouched_by_a_batch_the_matcher_refuses(folder: AgencyFolder) -> None:
    session = folder.session()

    class Refusing(FakeMatcher):
        def stream_batches(
            self, requests: Iterable[ingest_pb2.WriteBatchRequest]
        ) -> Iterator[ingest_pb2.WriteBatchResponse]:
            yield from ()
            raise FailedPreconditionError("schema mismatch")

    with session.state() as state:
        plan = plan_upload(session, state, folder.export, workers=1)
        with pytest.raises(FailedPreconditionError):
            _send(state, Refusing())
        assert state.record_count() == 0
        assert state.pending_summary()[0] == plan.batches
        assert state.discard_pending() == plan.batches
        assert state.pending_summary() == (0, 0)


def test_a_new_plan_waits_for_pending_batches(folder: AgencyFolder) -> None:
    session = folder.session()
    with session.state() as state:
        plan_upload(session, state, folder.export, workers=1)
        with pytest.raises(FailedPreconditionError, match="pending"):
            plan_upload(session, state, folder.export, workers=1)
        counted = plan_upload(session, state, folder.export, workers=1, dry_run=True)
        assert counted.new > 0, "a dry run may still count"
        with pytest.raises(FailedPreconditionError, match="pending"):
            plan_withdrawal(session, state, [], everything=True)


def test_duplicate_local_ids_are_skipped_with_the_row_named(folder: AgencyFolder) -> None:
    rows = folder.rows()
    duplicate = list(rows[3])
    folder.write_rows([*rows, duplicate])
    session = folder.session()
    with session.state() as state:
        plan = plan_upload(session, state, folder.export, workers=1, dry_run=True)
    assert plan.skipped_rows == 1
    last = len(rows)
    assert any(
        p.location == f"row {last}, column client_id" and "row 3" in p.reason for p in plan.problems
    )
    assert all(duplicate[0] not in str(p) for p in plan.problems), "no local IDs in problems"


def test_dry_run_stores_nothing(folder: AgencyFolder) -> None:
    session = folder.session()
    with session.state() as state:
        plan = plan_upload(session, state, folder.export, workers=1, dry_run=True)
        assert plan.new > 0
        assert plan.batches == 0
        assert state.pending_summary() == (0, 0)


def test_an_export_that_would_withdraw_most_records_needs_confirmation(
    folder: AgencyFolder,
) -> None:
    session, matcher = folder.session(), FakeMatcher()
    with session.state() as state:
        plan_upload(session, state, folder.export, workers=1)
        _send(state, matcher)
        rows = folder.rows()
        folder.write_rows(rows[:5])
        with pytest.raises(FailedPreconditionError, match="--allow-mass-withdrawal"):
            plan_upload(session, state, folder.export, workers=1)
        assert state.pending_summary() == (0, 0)
        plan = plan_upload(session, state, folder.export, workers=1, allow_mass_withdrawal=True)
        assert plan.withdrawn == len({r[0] for r in rows[1:]}) - 4
        _send(state, matcher)
    assert len(matcher.records) == 4


def test_replace_all_withdraws_everything_atomically_with_the_first_batch(
    folder: AgencyFolder,
) -> None:
    session, matcher = folder.session(), FakeMatcher()
    with session.state() as state:
        first = plan_upload(session, state, folder.export, workers=1)
        _send(state, matcher)
        plan = plan_upload(session, state, folder.export, workers=1, replace_all=True)
        pending = list(state.pending())
        assert pending[0].withdraw_all
        assert not any(p.withdraw_all for p in pending[1:])
        assert plan.changed == first.new
        report = _send(state, matcher)
        assert state.record_count() == first.new
    assert report.withdrawn == first.new
    assert report.inserted == first.new


def test_consent_set_and_revoke_update_the_matcher_and_survive_reuploads(
    tmp_path: Path,
) -> None:
    folder = make_agency_folder(tmp_path / "sud", people=40, batch_size=10, disclose=False)
    session, matcher = folder.session(), FakeMatcher()
    local_id = folder.rows()[1][0]
    key = session.keys.record_key(local_id)
    grant = Consent.for_recipients(
        roles=[Role.RESPONDER],
        purposes=[Purpose.CRISIS_RESPONSE],
        expires_at=__import__("datetime").datetime(2030, 1, 1, tzinfo=__import__("datetime").UTC),
    )
    with session.state() as state:
        plan_upload(session, state, folder.export, workers=1)
        _send(state, matcher)
        assert not matcher.records[key].consent.recipient_roles
        assert plan_consent(session, state, [ConsentPlan(local_id, grant)]) == 1
        report = _send(state, matcher)
        assert report.consent_updated == 1
        assert list(matcher.records[key].consent.purposes) == ["crisis_response"]
        entry = state.record(key)
        assert entry is not None
        assert entry.explicit
        # A re-upload keeps the record's own consent (it is not reset to the default).
        again = plan_upload(session, state, folder.export, workers=1)
        assert again.to_send == 0
        plan_consent(session, state, [ConsentPlan(local_id, None)])
        _send(state, matcher)
        assert matcher.records[key].consent.revoked
        assert list(matcher.records[key].consent.purposes) == ["crisis_response"]


def test_consent_and_withdrawal_of_unknown_ids_send_nothing(folder: AgencyFolder) -> None:
    session = folder.session()
    with session.state() as state:
        with pytest.raises(NotFoundError) as caught:
            plan_withdrawal(session, state, ["VMHC-00000"], everything=False)
        assert "VMHC-00000" not in str(caught.value)
        with pytest.raises(NotFoundError):
            plan_consent(session, state, [ConsentPlan("VMHC-00000", None)])
        assert state.pending_summary() == (0, 0)


def test_withdrawals_by_id_and_of_everything(folder: AgencyFolder) -> None:
    session, matcher = folder.session(), FakeMatcher()
    ids = sorted({row[0] for row in folder.rows()[1:]})
    with session.state() as state:
        plan_upload(session, state, folder.export, workers=1)
        _send(state, matcher)
        assert plan_withdrawal(session, state, ids[:3], everything=False) == 3
        _send(state, matcher)
        assert state.record_count() == len(ids) - 3
        assert plan_withdrawal(session, state, [], everything=True) == len(ids) - 3
        _send(state, matcher)
        assert state.record_count() == 0
    assert matcher.records == {}


def test_uploads_need_a_record_id_column(folder: AgencyFolder) -> None:
    text = folder.config.read_text().replace('record_key = "client_id"\n', "")
    folder.config.write_text(text)
    session = folder.session()
    with session.state() as state, pytest.raises(ConfigError, match="record_key"):
        plan_upload(session, state, folder.export, workers=1)


def test_the_state_applies_effects_atomically(tmp_path: Path) -> None:
    from agency_client._state import EFFECT_UPSERT, Effect

    with UploadState(tmp_path / "s" / "state.sqlite") as state:
        consent = state.consent_id(b"{}")
        state.add_pending(
            "upload", [("b1", False, 1, b"req", [Effect(b"k", EFFECT_UPSERT, b"d", consent)])]
        )
        conn = sqlite3.connect(tmp_path / "s" / "state.sqlite")
        conn.execute(
            "CREATE TRIGGER boom BEFORE DELETE ON pending_batches "
            "BEGIN SELECT RAISE(ABORT, 'x'); END"
        )
        conn.commit()
        conn.close()
        with pytest.raises(sqlite3.IntegrityError):
            state.acknowledge(1)
        assert state.record_count() == 0, "a failed acknowledgement changes nothing"
        assert state.pending_summary() == (1, 1)


def test_a_mapping_change_re_encodes_every_row(folder: AgencyFolder) -> None:
    session, matcher = folder.session(), FakeMatcher()
    with session.state() as state:
        first = plan_upload(session, state, folder.export, workers=1)
        _send(state, matcher)
    folder.config.write_text(folder.config.read_text().replace("keep_last = 9", "keep_last = 8"))
    session = folder.session()
    with session.state() as state:
        plan = plan_upload(session, state, folder.export, workers=1, dry_run=True)
    assert plan.changed == first.new
    assert plan.unchanged == 0


def test_bad_rows_of_a_delta_are_reported_by_their_export_row(folder: AgencyFolder) -> None:
    session, matcher = folder.session(), FakeMatcher()
    with session.state() as state:
        plan_upload(session, state, folder.export, workers=1)
        _send(state, matcher)
        rows = folder.rows()
        header = rows[0]
        bad = list(rows[4])
        bad[0] = "VMHC-77777"
        bad[header.index("date_of_birth")] = "31/31/1999"
        nameless = list(rows[6])
        nameless[0] = ""
        good = list(rows[5])
        good[0] = "VMHC-88888"
        folder.write_rows([*rows, bad, nameless, good])
        plan = plan_upload(session, state, folder.export, workers=1)
        _send(state, matcher)
    assert (plan.new, plan.changed, plan.skipped_rows) == (1, 0, 2)
    locations = {p.location for p in plan.problems}
    assert f"row {len(rows)}, column date_of_birth" in locations
    assert f"row {len(rows) + 1}, column client_id" in locations
    assert session.keys.record_key("VMHC-88888") in matcher.records
    assert session.keys.record_key("VMHC-77777") not in matcher.records
    assert "31/31/1999" not in str(plan.problems)


def test_strict_uploads_send_nothing_when_a_row_is_bad(folder: AgencyFolder) -> None:
    rows = folder.rows()
    rows[3][rows[0].index("date_of_birth")] = "not a date"
    folder.write_rows(rows)
    session = folder.session()
    with session.state() as state:
        with pytest.raises(RowError, match="nothing was sent") as caught:
            plan_upload(session, state, folder.export, workers=1, strict=True)
        assert "row 3, column date_of_birth" in str(caught.value)
        assert state.pending_summary() == (0, 0)
