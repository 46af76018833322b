"""Programme events at the agency: the events file, events in the upload digest and
batches, contacts logged in the field as records of their own."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

from agency_client._cmd_upload import _check_events_choice
from agency_client._contacts import (
    FIELD_CONTACT_PREFIX,
    FieldContactStore,
    LoggedContact,
    contacts_path,
    field_contact_local_id,
)
from agency_client._events import read_events_csv
from agency_client._workflow import plan_upload
from agency_client.pointer import open_pointer
from linkage.errors import ConfigError, FailedPreconditionError, InvalidInputError
from linkage.events import Disposition
from tests.agency_client.test_workflow import FakeMatcher, _send
from tests.agency_client.workflow_fixtures import AgencyFolder, make_agency_folder

pytestmark = pytest.mark.unit


@pytest.fixture
def folder(tmp_path: Path) -> AgencyFolder:
    return make_agency_folder(tmp_path / "mhc", people=40, batch_size=10)


def _ids(folder: AgencyFolder) -> list[str]:
    return [row[0] for row in folder.rows()[1:]]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_an_events_file_is_read_by_record_id(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "events.csv",
        "record_id,code,date,disposition\n"
        "A-1,coresponder_contact,2024-03-05,referred\n"
        "A-1,crisis_call,2024-03-01,\n"
        "A-1,crisis_call,2024-03-01,\n"
        "\n"
        "B-2,treatment_intake,2024-03-20,\n",
    )
    events = read_events_csv(path)
    assert [e.text() for e in events.events["A-1"]] == [
        "crisis_call|2024-03-01|",
        "crisis_call|2024-03-01|",
        "coresponder_contact|2024-03-05|referred",
    ]
    assert events.first_row == {"A-1": 1, "B-2": 5}
    # the disposition column is optional, record_key is accepted as the ID's name
    path = _write(tmp_path / "e2.csv", "record_key,date,code\nA-1,2024-01-02,jail_booking\n")
    assert [e.text() for e in read_events_csv(path).events["A-1"]] == ["jail_booking|2024-01-02|"]


def test_every_problem_of_an_events_file_is_named_without_its_value(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "events.csv",
        "record_id,code,date,disposition\n"
        "A-1,went-to-hospital,2024-03-05,\n"
        "A-1,crisis_call,5 March 2024,\n"
        "A-1,crisis_call,2024-03-05,referred\n"
        ",crisis_call,2024-03-05,\n"
        "A-1,crisis_call,2999-01-01,\n"
        "A-1,crisis_call\n",
    )
    with pytest.raises(InvalidInputError) as caught:
        read_events_csv(path, today=datetime(2025, 1, 1, tzinfo=UTC))
    problems = [(p.location, p.reason) for p in caught.value.problems]
    assert [location for location, _ in problems] == [
        "events.csv row 1, column code",
        "events.csv row 2, column date",
        "events.csv row 3, column disposition",
        "events.csv row 4, column record_id",
        "events.csv row 5, column date",
        "events.csv row 6",
    ]
    assert "nothing was sent" in caught.value.message
    text = repr(problems)
    assert "went-to-hospital" not in text
    assert "March" not in text
    assert "2999" not in text


def test_an_events_file_with_any_other_column_is_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "events.csv", "record_id,code,date,notes\nA-1,crisis_call,2024-01-01,x\n"
    )
    with pytest.raises(InvalidInputError) as caught:
        read_events_csv(path)
    assert caught.value.problems[0].location == "events.csv header, column 4"
    assert "no other data" in caught.value.problems[0].reason
    path = _write(tmp_path / "e2.csv", "code,date\ncrisis_call,2024-01-01\n")
    with pytest.raises(InvalidInputError, match="bad header"):
        read_events_csv(path)


def test_events_travel_in_the_upload_and_a_change_of_events_is_sent_again(
    folder: AgencyFolder, tmp_path: Path
) -> None:
    ids = _ids(folder)
    events_path = _write(
        tmp_path / "events.csv",
        "record_id,code,date,disposition\n"
        f"{ids[0]},treatment_intake,2024-03-05,\n"
        f"{ids[1]},mobile_crisis,2024-03-06,resolved_on_scene\n",
    )
    session, matcher = folder.session(), FakeMatcher()
    with session.state() as state:
        plan = plan_upload(
            session, state, folder.export, workers=1, events=read_events_csv(events_path)
        )
        assert plan.events == 2
        _send(state, matcher)
        first = matcher.records[session.keys.record_key(ids[0])]
        assert [(e.code, e.date, e.disposition) for e in first.events] == [
            ("treatment_intake", "2024-03-05", "")
        ]
        # the same export and events: nothing to send
        again = plan_upload(
            session, state, folder.export, workers=1, events=read_events_csv(events_path)
        )
        assert again.to_send == 0
        # one event more for one record: exactly that record is sent again
        with events_path.open("a", encoding="utf-8") as stream:
            stream.write(f"{ids[0]},treatment_visit,2024-03-19,\n")
        changed = plan_upload(
            session, state, folder.export, workers=1, events=read_events_csv(events_path)
        )
        assert (changed.changed, changed.new, changed.withdrawn) == (1, 0, 0)
        _send(state, matcher)
        assert len(matcher.records[session.keys.record_key(ids[0])].events) == 2
        # without the events file, the records that had events are sent again without them
        bare = plan_upload(session, state, folder.export, workers=1)
        assert bare.changed == 2


def test_events_of_records_missing_from_the_export_send_nothing(
    folder: AgencyFolder, tmp_path: Path
) -> None:
    events_path = _write(
        tmp_path / "events.csv", "record_id,code,date\nNOT-IN-EXPORT,crisis_call,2024-03-05\n"
    )
    session = folder.session()
    with session.state() as state:
        with pytest.raises(InvalidInputError, match=r"not in export\.csv") as caught:
            plan_upload(
                session, state, folder.export, workers=1, events=read_events_csv(events_path)
            )
        assert caught.value.problems[0].location == "export.csv row 1, column record_id"
        assert state.pending_summary() == (0, 0)


def test_an_upload_that_forgets_its_events_file_is_refused(folder: AgencyFolder) -> None:
    session = folder.session()
    with session.state() as state:
        _check_events_choice(state, None, False)  # never sent events: fine
        state.set_meta("upload_events", "yes")
        with pytest.raises(FailedPreconditionError, match="--events FILE"):
            _check_events_choice(state, None, False)
        _check_events_choice(state, None, True)


def test_contacts_logged_in_the_field_become_records_with_their_events(
    folder: AgencyFolder,
) -> None:
    session, matcher = folder.session(), FakeMatcher()
    path = contacts_path(session.config.state_file)
    clk_a, clk_b = b"\x11" * 336, b"\x22" * 336
    fingerprint, epoch = session.fingerprint, session.config.encoding.key_epoch
    with FieldContactStore(path) as store:
        store.add(
            clk_a,
            fingerprint,
            epoch,
            LoggedContact(date(2024, 5, 1), time(14, 5), Disposition.REFERRED),
        )
        store.add(
            clk_a,
            fingerprint,
            epoch,
            LoggedContact(date(2024, 6, 2), time(9, 0), Disposition.ARRESTED),
        )
        store.add(
            clk_b,
            fingerprint,
            epoch,
            LoggedContact(date(2024, 5, 9), time(23, 59), Disposition.OTHER),
        )
        store.add(
            clk_b,
            "another-schema",
            epoch,
            LoggedContact(date(2024, 5, 9), time(1, 0), Disposition.OTHER),
        )
        records, other = store.records(fingerprint, epoch)
    assert other == 1
    assert os.stat(path).st_mode & 0o777 == 0o600
    with session.state() as state:
        plan = plan_upload(session, state, folder.export, workers=1, field_contacts=records)
        assert plan.field_contacts == 2
        _send(state, matcher)
        key = session.keys.record_key(field_contact_local_id(clk_a))
        upsert = matcher.records[key]
        assert upsert.clk == clk_a
        assert [(e.code, e.date, e.disposition) for e in upsert.events] == [
            ("coresponder_contact", "2024-05-01", "referred"),
            ("coresponder_contact", "2024-06-02", "arrested"),
        ]
        local_id = open_pointer(session.pointer_key, session.agency_id, 1, upsert.pointer_token)
        assert local_id.startswith(FIELD_CONTACT_PREFIX)
        # the next upload of the export keeps them (not in the export, not withdrawn)
        later = plan_upload(session, state, folder.export, workers=1, field_contacts=records)
        assert (later.withdrawn, later.field_contacts, later.to_send) == (0, 0, 0)
    text = path.read_bytes()
    for name in ("Jordan", "given_name", "surname"):
        assert name.encode() not in text


def test_the_field_contact_file_keeps_the_private_file_rule(tmp_path: Path) -> None:
    path = tmp_path / "field-contacts.sqlite"
    FieldContactStore(path).close()
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        FieldContactStore(path)
    link = tmp_path / "link.sqlite"
    path.chmod(0o600)
    link.symlink_to(path)
    with pytest.raises(ConfigError, match="not a regular file"):
        FieldContactStore(link)


def test_agency_toml_sets_an_evaluation_consent_and_no_lookup_may_state_it(
    folder: AgencyFolder,
) -> None:
    from agency_client._client_config import load_client_config
    from linkage.consent import Purpose

    text = folder.config.read_text()
    evaluation_only = text.replace(
        'disclose = true\npurposes = ["crisis_response"]\nexpires = "2099-01-01"\n',
        'disclose = false\nevaluation = true\nexpires = "2099-01-01"\n',
    )
    assert evaluation_only != text
    folder.config.write_text(evaluation_only)
    consent = load_client_config(folder.config, {}).default_consent
    assert consent.purposes == {Purpose.EVALUATION}
    assert not consent.recipient_roles
    folder.config.write_text(evaluation_only.replace('expires = "2099-01-01"\n', ""))
    with pytest.raises(ConfigError) as caught:
        load_client_config(folder.config, {})
    assert [(p.location, p.reason) for p in caught.value.problems] == [
        ("consent.expires", "is required when evaluation = true")
    ]
    folder.config.write_text(
        text.replace(
            'token_file = "gateway.token"', 'token_file = "gateway.token"\npurpose = "evaluation"'
        )
    )
    with pytest.raises(ConfigError) as caught:
        load_client_config(folder.config, {})
    assert caught.value.problems[0].location == "gateway.purpose"
