"""The committed seed corpus of every fuzz target (tests/fuzz/corpus/<target>/): valid
inputs the mutations start from, so that the fuzzer reaches past the first parse. Written
by ``python tests/fuzz/seeds.py`` (deterministic; rerun it when a request type or a
sample file changes, and commit the result). Seeds are named ``seed-<content hash>``; the
inputs of past findings, ``finding-<what>``, are kept beside them and replayed by every
run."""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "corpus"


def _consents() -> list[bytes]:
    from linkage.consent import Consent, Purpose, serialize_consent
    from linkage.pki import Role

    expiry = datetime(2030, 1, 31, tzinfo=UTC)
    seeds = [
        serialize_consent(Consent.no_disclosure()),
        serialize_consent(Consent.no_disclosure(allow_linkage=False)),
        serialize_consent(
            Consent.for_recipients(
                roles=[Role.RESPONDER], purposes=[Purpose.CRISIS_RESPONSE], expires_at=expiry
            )
        ),
        serialize_consent(
            Consent.for_recipients(
                roles=[Role.RESPONDER, Role.AGENCY],
                purposes=[Purpose.CARE_COORDINATION, Purpose.TREATMENT],
                agencies=["police", "valley-mhc"],
                expires_at=expiry,
            ).revoke()
        ),
    ]
    seeds.append(json.dumps(json.loads(seeds[2]), indent=2).encode())  # not canonical
    return seeds


def _schemas() -> list[bytes]:
    from agency_client._encoding import builtin_encoding_schema
    from linkage.encode import default_schema_text

    seeds = [default_schema_text().encode()]
    for name in ("plain", "default-segmented"):
        schema = builtin_encoding_schema(name)
        assert schema is not None
        document = schema.schema.to_json_dict()
        if schema.segmented is not None:
            document["segments"] = schema.segmented.segmentation.to_json_dict()
        seeds.append(json.dumps(document).encode())
    return seeds


def _server_tomls() -> list[bytes]:
    samples = ROOT / "linkage" / "server" / "samples"
    minimal = b"""[server]
listen = "127.0.0.1:0"
insecure_dev = true

[store]
engine = "sqlite"
path = "index.db"

[linkage]
threshold = 0.8
clk_bits = 1024
key_epoch = 1
schema_fingerprint = "abababababababababababababababab"

[limits]
lookup_rate_per_s = 10
lookup_burst = 50
"""
    return [minimal, *(p.read_bytes() for p in sorted(samples.glob("*.toml")))]


def _agency_tomls() -> list[bytes]:
    from tests.fuzz.targets import client_agency_toml

    return [(ROOT / "agency_client" / "samples" / "agency.toml").read_bytes(), client_agency_toml()]


def _exports() -> list[bytes]:
    lines = (ROOT / "agency_client" / "samples" / "valley-mhc-export.csv").read_bytes()
    rows = lines.splitlines(keepends=True)
    return [b"".join(rows[:6]), b"".join(rows[:1] + rows[10:14]), b"".join(rows[:1])]


def _gateway_bodies() -> list[bytes]:
    from tests.fuzz.targets_client import GATEWAY_TOKEN

    query = {
        "given_name": "Mateo",
        "surname": "Muller",
        "date_of_birth": "1949-04-09",
        "sex": "f",
        "phone": "0412 555 019",
        "street": "112 Mill Lane",
        "suburb": "Springvale",
        "postcode": "3171",
        "state": "VIC",
    }
    form = "&".join(f"{k}={v.replace(' ', '+')}" for k, v in query.items())
    contact = {"contact_date": "2026-12-01", "contact_time": "14:30", "disposition": "transported"}
    return [
        b"\x00" + json.dumps(query).encode(),
        b"\x00" + json.dumps({"given_name": "Jo", "purpose": "treatment"}).encode(),
        b"\x01" + f"access_code={GATEWAY_TOKEN}&{form}".encode(),
        b"\x02" + json.dumps({"contact_token": "@CONTACT@", **contact}).encode(),
        b"\x03"
        + f"access_code={GATEWAY_TOKEN}&contact_token=@CONTACT@&contact_date=2026-12-01"
        "&contact_time=14%3A30&disposition=transported".encode(),
    ]


def _agency_files() -> list[bytes]:
    from agency_client._clkfile import ClkBatch, ClkFileHeader, open_writer
    from tests.fuzz.targets import scratch_dir

    events = (
        b"record_id,code,date,disposition\nVMHC-1000,coresponder_contact,2026-11-02,transported\n"
    )
    consent = (
        b"record_id,disclose,purposes,recipient_agencies,expires,revoked,allow_linkage\n"
        b"VMHC-1000,yes,crisis_response;care_coordination,police,2099-01-01,no,yes\n"
        b"VMHC-1001,,,,,yes,\n"
    )
    ids = b"# withdrawn\nVMHC-1000\n\nVMHC-1001\n"
    folder = scratch_dir("seeds")
    header = ClkFileHeader(
        schema_fingerprint="ab" * 32, key_epoch=1, clk_bits=128, record_key_column="client_id"
    )
    seeds = [b"\x00" + events, b"\x01" + consent, b"\x02" + ids]
    for kind in ("clk", "clkhash-json"):
        path = folder / f"seed.{kind}"
        writer = open_writer(path, kind, header)  # type: ignore[arg-type]
        writer.write(
            ClkBatch(
                row_numbers=np.array([1, 2], dtype=np.int64),
                record_keys=("VMHC-1000", "VMHC-1001"),
                clks=np.frombuffer(bytes(range(32)), dtype=np.uint8).reshape(2, 16),
            )
        )
        writer.commit()
        seeds.append(b"\x03" + path.read_bytes())
    return seeds


def _grpc_requests() -> list[bytes]:
    from linkage.v1 import common_pb2, ingest_pb2, lookup_pb2, operator_pb2
    from tests.fuzz.targets_grpc import BITS, FINGERPRINT, METHODS

    rng = np.random.default_rng(2026)
    clk = np.packbits(rng.random(BITS) < 0.3).tobytes()
    consent = common_pb2.Consent(
        allow_linkage=True, recipient_roles=[common_pb2.ROLE_RESPONDER], purposes=["treatment"]
    )
    consent.expire_time.FromDatetime(datetime(2030, 1, 1))
    upsert = ingest_pb2.RecordUpsert(
        record_key=b"r1",
        clk=clk,
        pointer_token=b"ptr",
        consent=consent,
        events=[ingest_pb2.RecordEvent(code="crisis_call", date="2026-11-02")],
    )
    card = common_pb2.ContactCard(display_name="Desk", phone_number="555 0100")
    requests = {
        "WriteBatch": ingest_pb2.WriteBatchRequest(
            parent="agencies/police",
            batch_id="b1",
            key_epoch=1,
            schema_fingerprint=FINGERPRINT,
            mutations=[
                ingest_pb2.RecordMutation(upsert=upsert),
                ingest_pb2.RecordMutation(withdraw_record_key=b"r0"),
                ingest_pb2.RecordMutation(
                    consent_update=ingest_pb2.ConsentUpdate(record_key=b"r1", consent=consent)
                ),
            ],
        ),
        "ListRecords": ingest_pb2.ListRecordsRequest(parent="agencies/police", page_size=2),
        "GetAgencyStatus": ingest_pb2.GetAgencyStatusRequest(name="agencies/police"),
        "ListDisclosures": ingest_pb2.ListDisclosuresRequest(
            parent="agencies/police", page_token="12"
        ),
        "Lookup": lookup_pb2.LookupRequest(
            clk=clk, key_epoch=1, schema_fingerprint=FINGERPRINT, purpose="treatment", max_links=3
        ),
        "CreateAgency": operator_pb2.CreateAgencyRequest(
            agency_id="er", agency=operator_pb2.Agency(display_name="ER", contact_card=card)
        ),
        "GetAgency": operator_pb2.GetAgencyRequest(name="agencies/police"),
        "ListAgencies": operator_pb2.ListAgenciesRequest(page_size=1, page_token="a"),
        "UpdateAgency": operator_pb2.UpdateAgencyRequest(
            agency=operator_pb2.Agency(name="agencies/police", display_name="P", contact_card=card)
        ),
        "GetIndexStatus": operator_pb2.GetIndexStatusRequest(),
        "ListEvents": operator_pb2.ListEventsRequest(after_sequence=1, page_size=5),
        "RebuildLinks": operator_pb2.RebuildLinksRequest(reason="fuzz"),
    }
    return [
        bytes([index]) + requests[method].SerializeToString()
        for index, (_, method, _, _) in enumerate(METHODS)
    ]


SEEDS = {
    "consent_json": _consents,
    "schema_json": _schemas,
    "server_toml": _server_tomls,
    "agency_toml": _agency_tomls,
    "export_csv": _exports,
    "gateway_api": _gateway_bodies,
    "grpc_requests": _grpc_requests,
    "agency_files": _agency_files,
}


def write_seeds() -> dict[str, int]:
    """Write every target's seeds (replacing the old ones); the count per target."""
    counts = {}
    for target, make in SEEDS.items():
        folder = CORPUS / target
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("seed-*"):  # the inputs of findings (finding-*) stay
            old.unlink()
        seeds = make()
        for seed in seeds:
            (folder / f"seed-{hashlib.sha256(seed).hexdigest()[:16]}").write_bytes(seed)
        counts[target] = len(seeds)
    return counts


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    for target, count in write_seeds().items():
        print(f"{target}: {count} seeds")
