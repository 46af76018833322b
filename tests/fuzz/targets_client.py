"""Fuzz targets at the agency: the CSV export through the reader, the column mapper, its
transforms and the encoder (``agency-client encode``, ``validate``'s dry run and
``deref``'s record search), and the responder gateway's JSON API and forms through its
ASGI application (the same app uvicorn serves; no socket, so thousands of requests a
second). A gateway answer of 500 is a finding: it is what the gateway answers when a
handler raised something unexpected."""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Final

from agency_client._client_config import load_client_config
from agency_client._clkfile import read_clk_batches, read_clk_file_header
from agency_client._cmd_consent import read_consent_csv
from agency_client._cmd_withdraw import read_id_file
from agency_client._config import load_agency_config
from agency_client._dryrun import dry_run
from agency_client._events import read_events_csv
from agency_client._export import find_record, iter_local_ids
from agency_client._gateway import GatewayApp
from agency_client._gateway_contacts import ContactLog
from agency_client._gateway_http import GatewayLimits, build_asgi_app
from agency_client._pipeline import encode_export
from agency_client._query import QueryEncoder
from linkage.consent import Consent, Purpose
from linkage.errors import LinkageError
from linkage.pki import Role
from linkage.v1 import common_pb2, lookup_pb2
from linkage.wire import consent_to_proto
from tests.fuzz.targets import OneInput, agency_folder, scratch_dir

__all__ = [
    "AGENCY_FILES",
    "GATEWAY_ROUTES",
    "GATEWAY_TOKEN",
    "agency_files",
    "export_csv",
    "gateway_api",
]

# -- the export -------------------------------------------------------------------------


def export_csv() -> OneInput:
    root = agency_folder(scratch_dir("export"))
    config = load_agency_config(root / "agency.toml", {})
    client = load_client_config(root / "agency.toml", {})
    export = root / "export.csv"
    output = root / "out.clk"

    def one(data: bytes) -> None:
        export.write_bytes(data)
        with contextlib.suppress(LinkageError):
            dry_run(config, export)
        with contextlib.suppress(LinkageError):
            encode_export(config, export, output, workers=1)
        try:
            ids = list(iter_local_ids(client, export))
            if ids:
                find_record(client, export, ids[-1])
        except LinkageError:
            pass

    return one


# -- the agency's other input files ------------------------------------------------------

#: selector byte (index) -> what the rest of the input is read as
AGENCY_FILES: Final = ("events CSV", "consent CSV", "record-ID list", "CLK file")


def agency_files() -> OneInput:
    """``upload --events``, ``consent set --from-csv``, ``withdraw --from-file`` and the
    CLK files (``.clk`` or clkhash JSON) ``upload`` and ``schema describe`` read."""
    root = scratch_dir("files")
    path = root / "input"
    readers = (
        read_events_csv,
        read_consent_csv,
        read_id_file,
        lambda p: (read_clk_file_header(p), list(read_clk_batches(p, batch_size=7))),
    )

    def one(data: bytes) -> None:
        if not data:
            return
        path.write_bytes(data[1:])
        with contextlib.suppress(LinkageError):
            readers[data[0] % len(readers)](path)

    return one


# -- the gateway ------------------------------------------------------------------------

GATEWAY_TOKEN: Final = "fuzz-gateway-token-0123456789abcdef"
#: selector byte (index) -> (path, content type)
GATEWAY_ROUTES: Final = (
    ("/api/v1/lookup", "application/json"),
    ("/lookup", "application/x-www-form-urlencoded"),
    ("/api/v1/contact", "application/json"),
    ("/contact", "application/x-www-form-urlencoded"),
)
#: in a body, replaced by a contact token this gateway issued (the fuzzer cannot forge one)
CONTACT_TOKEN_MARK: Final = b"@CONTACT@"


def _disclosed() -> lookup_pb2.LookupResponse:
    consent = Consent.for_recipients(
        roles=[Role.RESPONDER],
        purposes=[Purpose.CRISIS_RESPONSE],
        expires_at=datetime(2030, 1, 1, tzinfo=UTC),
    )
    record = lookup_pb2.DisclosedRecord(
        agency="agencies/valley-mhc",
        contact_card=common_pb2.ContactCard(display_name="Valley", phone_number="555 0100"),
        pointer_token=b"\x01token",
        consent=consent_to_proto(consent),
    )
    return lookup_pb2.LookupResponse(links=[lookup_pb2.LinkMatch(link="links/7", records=[record])])


def gateway_api() -> OneInput:
    root = agency_folder(scratch_dir("gateway"))
    config = load_agency_config(root / "agency.toml", {})
    disclosed = _disclosed()

    def lookup(request: lookup_pb2.LookupRequest) -> lookup_pb2.LookupResponse:
        # a known person for about half the queries: both answer shapes are exercised
        return disclosed if request.clk[0] & 1 else lookup_pb2.LookupResponse()

    contacts = ContactLog(root / "state" / "field-contacts.sqlite", "f" * 64, 1)
    app = GatewayApp(
        agency_name="Fuzz Police",
        encoder=QueryEncoder(config),
        lookup=lookup,
        key_epoch=1,
        fingerprint="f" * 64,
        purpose=Purpose.CRISIS_RESPONSE,
        token=GATEWAY_TOKEN,
        contacts=contacts,
    )
    executor = ThreadPoolExecutor(max_workers=1)
    asgi = build_asgi_app(app, loopback_only=True, limits=GatewayLimits(), executor=executor)
    loop = asyncio.new_event_loop()

    def one(data: bytes) -> None:
        if not data:
            return
        path, content_type = GATEWAY_ROUTES[data[0] % len(GATEWAY_ROUTES)]
        body = data[1:]
        if CONTACT_TOKEN_MARK in body:
            token = contacts.tokens.issue(b"\x00" * 16, datetime.now(UTC)).encode()
            body = body.replace(CONTACT_TOKEN_MARK, token)
        status = loop.run_until_complete(_serve(asgi, path, content_type, body))
        if status >= 500 and status != 502:  # 502: the matcher failed, which it cannot here
            raise AssertionError(f"the gateway answered {status} on {path}")

    return one


async def _serve(asgi: Any, path: str, content_type: str, body: bytes) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8080"),
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"authorization", f"Bearer {GATEWAY_TOKEN}".encode()),
            (b"sec-fetch-site", b"same-origin"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    status = 0

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    await asgi(scope, receive, send)
    return status
