"""Unit tests: the workflow config, consent CSVs, exit codes, query encoding, deref helpers
and the synthetic generator."""

from __future__ import annotations

import csv
import os
from datetime import UTC, datetime
from pathlib import Path

import grpc
import numpy as np
import pytest

from agency_client._cli_common import (
    EXIT_CREDENTIALS,
    EXIT_DOMAIN_ERROR,
    EXIT_NOT_FOUND,
    EXIT_UNAVAILABLE,
    exit_code_for,
)
from agency_client._client_config import is_loopback_listen, load_client_config
from agency_client._clkfile import read_clk_batches
from agency_client._cmd_consent import describe_consent, read_consent_csv
from agency_client._cmd_deref import decode_token
from agency_client._export import find_record, iter_local_ids
from agency_client._matcher import consent_from_proto, consent_to_proto, translate_rpc_error
from agency_client._pipeline import encode_export
from agency_client._query import QueryEncoder
from linkage.consent import Consent, Purpose
from linkage.errors import (
    AuthenticationError,
    ConfigError,
    FailedPreconditionError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnavailableError,
)
from linkage.pki import Role
from linkage.synth import DEFAULT_AGENCIES, Messiness, generate_scenario, true_pairs, write_scenario
from tests.agency_client.workflow_fixtures import AgencyFolder, make_agency_folder

pytestmark = pytest.mark.unit


@pytest.fixture
def folder(tmp_path: Path) -> AgencyFolder:
    return make_agency_folder(tmp_path / "mhc", people=30)


# ---------------------------------------------------------------- config


def test_client_config_loads_every_table(folder: AgencyFolder) -> None:
    config = load_client_config(folder.config, {})
    assert config.agency_id == "valley-mhc"
    assert config.parent == "agencies/valley-mhc"
    assert config.batch_size == 25
    assert config.record_id_column == "client_id"
    assert config.pointer_key_file == folder.root.resolve() / "pointer.key"
    assert config.state_file == folder.root.resolve() / "state" / "upload-state.sqlite"
    assert config.default_consent.purposes == {Purpose.CRISIS_RESPONSE}
    assert config.default_consent.recipient_roles == {Role.RESPONDER}
    assert config.gateway.listen == "127.0.0.1:0"
    assert config.gateway.tls is None


@pytest.mark.parametrize(
    ("edit", "location"),
    [
        (('id = "valley-mhc"\n', ""), "agency.id"),
        (('id = "valley-mhc"', 'id = "Not An ID"'), "agency.id"),
        (("batch_size = 25", "batch_size = 0"), "matcher.batch_size"),
        (('expires = "2099-01-01"\n', ""), "consent.expires"),
        (('purposes = ["crisis_response"]', 'purposes = ["gossip"]'), "consent.purposes"),
        (("[gateway]\n", '[gateway]\npurpose = "gossip"\n'), "gateway.purpose"),
        (("[pointer]\n", "[pointer]\nsurprise = 1\n"), "pointer.surprise"),
    ],
)
def test_client_config_names_each_problem(
    folder: AgencyFolder, edit: tuple[str, str], location: str
) -> None:
    text = folder.config.read_text()
    assert edit[0] in text
    folder.config.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(ConfigError) as caught:
        load_client_config(folder.config, {})
    assert location in str(caught.value)


def test_loopback_detection() -> None:
    assert is_loopback_listen("127.0.0.1:8765")
    assert is_loopback_listen("localhost:1")
    assert is_loopback_listen("[::1]:80")
    assert not is_loopback_listen("0.0.0.0:8765")
    assert not is_loopback_listen("10.1.2.3:80")


# ---------------------------------------------------------------- exit codes and errors


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InvalidInputError("x"), EXIT_DOMAIN_ERROR),
        (ConfigError("x"), EXIT_DOMAIN_ERROR),
        (FailedPreconditionError("x"), EXIT_DOMAIN_ERROR),
        (UnavailableError("x"), EXIT_UNAVAILABLE),
        (ResourceExhaustedError("x"), EXIT_UNAVAILABLE),
        (AuthenticationError("x"), EXIT_CREDENTIALS),
        (PermissionDeniedError("x"), EXIT_CREDENTIALS),
        (NotFoundError("x"), EXIT_NOT_FOUND),
    ],
)
def test_exit_codes_follow_the_documented_table(error: Exception, code: int) -> None:
    assert exit_code_for(error) == code  # type: ignore[arg-type]


class _FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[()]:
        return ()


@pytest.mark.parametrize(
    ("code", "cls", "advice"),
    [
        (grpc.StatusCode.UNAVAILABLE, UnavailableError, "run the same command again"),
        (grpc.StatusCode.UNAUTHENTICATED, AuthenticationError, "ask the operator"),
        (grpc.StatusCode.PERMISSION_DENIED, PermissionDeniedError, "certificate"),
        (grpc.StatusCode.FAILED_PRECONDITION, FailedPreconditionError, "key_epoch"),
        (grpc.StatusCode.NOT_FOUND, NotFoundError, "enrol"),
    ],
)
def test_rpc_errors_say_what_to_do(code: grpc.StatusCode, cls: type, advice: str) -> None:
    error = translate_rpc_error("sending batches", _FakeRpcError(code, "detail"))
    assert isinstance(error, cls)
    assert "sending batches failed" in str(error)
    assert advice in str(error)


def test_consent_round_trips_through_the_proto() -> None:
    consent = Consent.for_recipients(
        roles=[Role.RESPONDER],
        purposes=[Purpose.CRISIS_RESPONSE, Purpose.TREATMENT],
        agencies=["metro-police"],
        expires_at=datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC),
    )
    assert consent_from_proto(consent_to_proto(consent)) == consent
    assert consent_from_proto(consent_to_proto(consent.revoke())).revoked
    plain = Consent.no_disclosure()
    assert consent_from_proto(consent_to_proto(plain)) == plain


# ---------------------------------------------------------------- consent CSV


def test_bulk_consent_csv(tmp_path: Path) -> None:
    path = tmp_path / "consent.csv"
    path.write_text(
        "record_id,disclose,purposes,recipient_agencies,expires,revoked\n"
        "A-1,yes,crisis_response;care_coordination,metro-police,2030-02-03,no\n"
        "A-2,,,,,yes\n"
        "A-3,no,,,,\n"
    )
    plans = read_consent_csv(path)
    assert [p.local_id for p in plans] == ["A-1", "A-2", "A-3"]
    first = plans[0].consent
    assert first is not None
    assert first.purposes == {Purpose.CRISIS_RESPONSE, Purpose.CARE_COORDINATION}
    assert first.recipient_agencies == {"metro-police"}
    assert first.expires_at == datetime(2030, 2, 3, 23, 59, 59, tzinfo=UTC)
    assert plans[1].consent is None, "revoked = yes revokes the current consent"
    third = plans[2].consent
    assert third is not None
    assert not third.grants_disclosure
    assert third.allow_linkage
    assert describe_consent(first).startswith("disclose to responder of metro-police for ")
    assert describe_consent(third) == "linked, never disclosed"


@pytest.mark.parametrize(
    ("row", "location"),
    [
        (",yes,crisis_response,,2030-01-01,no", "row 1, column record_id"),
        ("A-1,yes,crisis_response,,,no", "row 1, column expires"),
        ("A-1,maybe,crisis_response,,2030-01-01,no", "row 1, column disclose"),
        ("A-1,yes,gossip,,2030-01-01,no", "row 1, column purposes"),
    ],
)
def test_bulk_consent_csv_names_the_bad_cell(tmp_path: Path, row: str, location: str) -> None:
    path = tmp_path / "consent.csv"
    path.write_text("record_id,disclose,purposes,recipient_agencies,expires,revoked\n" + row + "\n")
    with pytest.raises(InvalidInputError) as caught:
        read_consent_csv(path)
    assert location in str(caught.value)
    assert "gossip" not in str(caught.value)
    assert "maybe" not in str(caught.value)


def test_bulk_consent_csv_names_every_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "consent.csv"
    path.write_text(
        "record_id,disclose,purposes,recipient_agencies,expires,revoked\n"
        "A-1,maybe,crisis_response,,2030-01-01,no\n"
        "A-2,yes,crisis_response,,2030-01-01,no\n"
        ",yes,crisis_response,,2030-01-01,no\n"
        "A-4,yes,crisis_response,,,no\n"
    )
    with pytest.raises(InvalidInputError) as caught:
        read_consent_csv(path)
    assert [p.location for p in caught.value.problems] == [
        "row 1, column disclose",
        "row 3, column record_id",
        "row 4, column expires",
    ]


# ---------------------------------------------------------------- export lookups, tokens


def test_export_lookup_finds_the_row_by_local_id(folder: AgencyFolder) -> None:
    config = load_client_config(folder.config, {})
    rows = folder.rows()
    ids = list(iter_local_ids(config, folder.export))
    assert ids == [r[0] for r in rows[1:]]
    record = find_record(config, folder.export, rows[4][0])
    assert record == dict(zip(rows[0], rows[4], strict=True))
    assert find_record(config, folder.export, "VMHC-nope") is None


def test_tokens_decode_from_base64url_with_or_without_padding() -> None:
    raw = bytes(range(40))
    import base64

    text = base64.urlsafe_b64encode(raw).decode()
    assert decode_token(text) == raw
    assert decode_token(text.rstrip("=")) == raw
    assert decode_token(base64.b64encode(raw).decode()) == raw
    with pytest.raises(InvalidInputError):
        decode_token("not base64 !!")


# ---------------------------------------------------------------- query encoding


def test_a_query_encodes_exactly_like_the_export_row_it_describes(
    folder: AgencyFolder, tmp_path: Path
) -> None:
    config = load_client_config(folder.config, {})
    rows = folder.rows()
    header = rows[0]
    row = dict(zip(header, rows[1], strict=True))
    single = tmp_path / "one.csv"
    folder.write_rows([header, rows[1]], single)
    encode_export(config.encoding, single, tmp_path / "one.clk", workers=1, output_format="clk")
    (batch,) = read_clk_batches(tmp_path / "one.clk")
    day = row["date_of_birth"]
    query = {
        "given_name": row["given_name"],
        "middle_name": row["middle_name"],
        "surname": row["family_name"],
        "date_of_birth": day,
        "sex": row["gender"],
        "phone": row["mobile"],
        "street_address": f"{row['street_no']} {row['street']}".strip(),
        "suburb": row["city"],
        "postcode": row["zip"],
        "state": row["state"],
    }
    encoder = QueryEncoder(config.encoding)
    assert encoder.encode(query) == batch.clks[0].tobytes()
    other = dict(query, given_name=query["given_name"] + "x")
    assert encoder.encode(other) != batch.clks[0].tobytes()


def test_query_problems_name_fields_never_values(folder: AgencyFolder) -> None:
    encoder = QueryEncoder(load_client_config(folder.config, {}).encoding)
    with pytest.raises(InvalidInputError) as caught:
        encoder.encode({"given_name": "Zebedee", "date_of_birth": "31/31/1999", "eye": "blue"})
    text = str(caught.value)
    assert "surname: is required" in text
    assert "eye" in text
    assert "Zebedee" not in text
    assert "blue" not in text
    assert "1999" not in text
    with pytest.raises(InvalidInputError, match="date_of_birth"):
        encoder.encode({"given_name": "A", "surname": "B", "date_of_birth": "31/12/1999"})
    with pytest.raises(InvalidInputError, match="must be text"):
        encoder.encode({"given_name": 3, "surname": "B", "date_of_birth": "1999-12-31"})


# ---------------------------------------------------------------- synthetic data


def test_the_generator_is_deterministic_and_ships_consistent_truth(tmp_path: Path) -> None:
    first = generate_scenario(people=150, seed=5)
    assert first == generate_scenario(people=150, seed=5)
    assert first != generate_scenario(people=150, seed=6)
    by_agency = {e.agency.agency_id: e for e in first.exports}
    assert set(by_agency) == {a.agency_id for a in DEFAULT_AGENCIES}
    truth_ids = {(t.agency_id, t.local_id) for t in first.truth}
    rows = {(a, r[0]) for a, e in by_agency.items() for r in e.rows}
    assert truth_ids == rows, "every row has a truth entry"
    assert len(first.truth) == len(rows), "and only one"
    for export in first.exports:
        assert all(len(r) == len(export.agency.header) for r in export.rows)
    paths = write_scenario(first, tmp_path)
    with paths["truth"].open() as stream:
        assert sum(1 for _ in csv.reader(stream)) == len(first.truth) + 1
    pairs = true_pairs(first.truth, "metro-police", "valley-mhc")
    persons = {t.local_id: t.person_id for t in first.truth}
    assert pairs
    assert all(persons[a] == persons[b] for a, b in pairs)


def test_the_generator_makes_the_mess_it_promises() -> None:
    scenario = generate_scenario(
        people=2000,
        seed=11,
        agencies=DEFAULT_AGENCIES[1:2],
        messiness=Messiness(duplicates=0.1, twins=0.05),
    )
    export = scenario.exports[0]
    people = {p.person_id: p for p in scenario.people}
    truth = {t.local_id: t.person_id for t in scenario.truth}
    header = list(export.agency.header)
    given, dob, mobile = (
        header.index("given_name"),
        header.index("date_of_birth"),
        header.index("mobile"),
    )
    nick = swapped = typo = no_phone = 0
    for row in export.rows:
        person = people[truth[row[0]]]
        if row[given] != person.given_name:
            nick += 1
        if row[dob] and row[dob] != person.date_of_birth.isoformat():
            swapped += 1
        if row[header.index("family_name")] != person.surname:
            typo += 1
        no_phone += not row[mobile]
    counts = np.bincount(np.unique(list(truth.values()), return_counts=True)[1])
    assert nick > 0
    assert swapped > 0
    assert typo > 0
    assert no_phone > 0
    assert len(counts) > 2, "some people are registered twice"
    twins = [
        (a, b)
        for a, b in zip(scenario.people, scenario.people[1:], strict=False)
        if a.surname == b.surname and a.date_of_birth == b.date_of_birth
    ]
    assert twins, "some people have twins"
    assert all(a.given_name != b.given_name for a, b in twins)


def test_environment_is_not_read_by_the_loader(folder: AgencyFolder) -> None:
    text = folder.config.read_text().replace('file = "secret.key"', 'env = "DEMO_SECRET_VAR"')
    folder.config.write_text(text)
    assert "DEMO_SECRET_VAR" not in os.environ
    with pytest.raises(ConfigError, match=r"secret\.env"):
        load_client_config(folder.config, {})
    config = load_client_config(folder.config, {"DEMO_SECRET_VAR": "x" * 32})
    assert config.encoding.secret.reveal() == b"x" * 32


def test_a_query_needs_the_names_and_a_date_of_birth_phone_or_street(folder: AgencyFolder) -> None:
    encoder = QueryEncoder(load_client_config(folder.config, {}).encoding)
    names = {"given_name": "Ada", "surname": "Quill"}
    with pytest.raises(InvalidInputError) as caught:
        encoder.encode(names)
    assert [(p.location, p.reason) for p in caught.value.problems] == [
        ("date_of_birth", "is required unless a phone or street address is given")
    ]
    # a responder who does not know the date of birth may give a phone or a street instead
    with_phone = encoder.encode({**names, "phone": "0412 345 678"})
    with_street = encoder.encode({**names, "street_address": "12 Elm Street"})
    with_dob = encoder.encode({**names, "date_of_birth": "1980-02-03"})
    assert len({with_phone, with_street, with_dob}) == 3
    with pytest.raises(InvalidInputError, match="surname: is required"):
        encoder.encode({"given_name": "Ada", "phone": "0412 345 678"})
