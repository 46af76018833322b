"""The gateway over real HTTP with a stand-in for the matcher's Lookup: routes, answers that
do not tell "not found" from "not permitted", authentication, origin checks and logs."""

from __future__ import annotations

import http.client
import json
import logging
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agency_client._client_config import GatewaySettings, load_client_config
from agency_client._gateway import GatewayApp, load_gateway_token, start_gateway
from agency_client._gateway_page import NO_INFORMATION
from agency_client._matcher import consent_to_proto
from agency_client._query import QueryEncoder
from linkage.consent import Consent, Purpose
from linkage.errors import ConfigError, InvalidInputError, UnavailableError
from linkage.pki import Role
from linkage.v1 import common_pb2, lookup_pb2
from tests.agency_client.workflow_fixtures import make_agency_folder

pytestmark = pytest.mark.unit

QUERY = {
    "given_name": "Jordan",
    "surname": "Whitfield-Okoro",
    "date_of_birth": "1987-03-14",
    "phone": "0412 555 019",
    "suburb": "Brunswick",
}
TOKEN = "a-long-enough-gateway-token-0123"


class FakeLookup:
    """Answers like the matcher: the card when the CLK is the known one, else nothing."""

    def __init__(self, known_clk: bytes, *, visible: bool = True) -> None:
        self.known_clk = known_clk
        self.visible = visible
        self.requests: list[lookup_pb2.LookupRequest] = []
        self.fail: Exception | None = None

    def __call__(self, request: lookup_pb2.LookupRequest) -> lookup_pb2.LookupResponse:
        self.requests.append(request)
        if self.fail is not None:
            raise self.fail
        if request.clk != self.known_clk or not self.visible:
            return lookup_pb2.LookupResponse()
        consent = Consent.for_recipients(
            roles=[Role.RESPONDER],
            purposes=[Purpose.CRISIS_RESPONSE],
            expires_at=datetime(2030, 1, 1, tzinfo=UTC),
        )
        return lookup_pb2.LookupResponse(
            links=[
                lookup_pb2.LinkMatch(
                    link="links/7",
                    records=[
                        lookup_pb2.DisclosedRecord(
                            agency="agencies/valley-mhc",
                            contact_card=common_pb2.ContactCard(
                                display_name="Valley <Mental> Health",
                                instructions="crisis line, 24/7",
                                phone_number="555 0100",
                            ),
                            pointer_token=b"\x01\x02token\xff",
                            consent=consent_to_proto(consent),
                        )
                    ],
                )
            ]
        )


class Gateway:
    def __init__(self, app: GatewayApp, lookup: FakeLookup, listen: str = "127.0.0.1:0") -> None:
        self.app = app
        self.lookup = lookup
        self.server, self.thread = start_gateway(app, listen)

    @property
    def port(self) -> int:
        return self.server.port

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def api(self, query: object, headers: dict[str, str] | None = None) -> tuple[int, dict]:  # type: ignore[type-arg]
        status, _, body = self.request(
            "POST",
            "/api/v1/lookup",
            json.dumps(query).encode(),
            {"Content-Type": "application/json", **(headers or {})},
        )
        return status, json.loads(body)

    def form(self, query: dict[str, str], headers: dict[str, str] | None = None) -> tuple[int, str]:
        status, _, body = self.request(
            "POST",
            "/lookup",
            urllib.parse.urlencode(query).encode(),
            {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
        )
        return status, body.decode()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _app(
    tmp_path: Path, *, visible: bool = True, token: str | None = None
) -> tuple[GatewayApp, FakeLookup]:
    folder = make_agency_folder(tmp_path / "police", people=3)
    config = load_client_config(folder.config, {})
    encoder = QueryEncoder(config.encoding)
    lookup = FakeLookup(encoder.encode(QUERY), visible=visible)
    app = GatewayApp(
        agency_name="Metro Police",
        encoder=encoder,
        lookup=lookup,
        key_epoch=1,
        fingerprint="f" * 64,
        purpose=Purpose.CRISIS_RESPONSE,
        token=token,
    )
    return app, lookup


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    app, lookup = _app(tmp_path)
    gw = Gateway(app, lookup)
    yield gw
    gw.close()


def test_json_lookup_returns_cards_and_pointers_never_scores(gateway: Gateway) -> None:
    status, answer = gateway.api(QUERY)
    assert status == 200
    assert answer["known"] is True
    (record,) = answer["results"]
    assert record["agency"] == "valley-mhc"
    assert record["phone_number"] == "555 0100"
    assert record["pointer_token"] == "AQJ0b2tlbv8"
    assert record["consent_purposes"] == ["crisis_response"]
    assert "score" not in json.dumps(answer)
    assert "clk" not in json.dumps(answer)
    (sent,) = gateway.lookup.requests
    assert sent.purpose == "crisis_response"
    assert sent.max_links == 5
    assert sent.key_epoch == 1


def test_not_found_and_not_permitted_get_the_same_answer(tmp_path: Path) -> None:
    answers = []
    for visible, query in ((True, dict(QUERY, given_name="Someone")), (False, QUERY)):
        app, lookup = _app(tmp_path / str(visible), visible=visible)
        gw = Gateway(app, lookup)
        try:
            answers.append((gw.api(query), gw.form(query)[1]))
        finally:
            gw.close()
    (api_a, page_a), (api_b, page_b) = answers
    assert api_a == api_b == (200, {"known": False, "message": NO_INFORMATION, "results": []})
    results_a, results_b = page_a.split("<form")[0], page_b.split("<form")[0]
    assert results_a == results_b, "the results part of the page is identical"
    assert NO_INFORMATION in page_a


def test_the_page_shows_a_card_per_disclosing_agency_escaped(gateway: Gateway) -> None:
    status, headers, body = gateway.request("GET", "/")
    page = body.decode()
    assert status == 200
    assert 'name="viewport"' in page
    assert 'action="/lookup"' in page
    assert headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    status, page = gateway.form(QUERY)
    assert status == 200
    assert "Known to: Valley &lt;Mental&gt; Health" in page
    assert "<Mental>" not in page
    assert 'href="tel:5550100"' in page
    assert "crisis line, 24/7" in page


def test_bad_queries_name_fields_not_values(gateway: Gateway) -> None:
    status, answer = gateway.api({"given_name": "Zebedee", "date_of_birth": "1999-99-99"})
    assert status == 400
    fields = {p["field"] for p in answer["problems"]}
    assert {"surname", "date_of_birth"} <= fields
    assert "Zebedee" not in json.dumps(answer)
    status, page = gateway.form({"given_name": "Zebedee"})
    assert status == 400
    assert "Please check" in page
    assert gateway.api([1, 2])[0] == 400
    assert (
        gateway.request("POST", "/api/v1/lookup", b"{", {"Content-Type": "application/json"})[0]
        == 400
    )
    assert (
        gateway.request("POST", "/api/v1/lookup", b"{}", {"Content-Type": "text/plain"})[0] == 415
    )
    assert gateway.request("POST", "/api/v1/lookup", b"x" * 20000)[0] == 413
    assert gateway.request("GET", "/nothing")[0] == 404
    assert gateway.lookup.requests == [], "nothing invalid reached the matcher"


def test_matcher_failures_are_reported_without_detail(gateway: Gateway) -> None:
    gateway.lookup.fail = UnavailableError("connection refused to 10.0.0.1")
    status, answer = gateway.api(QUERY)
    assert status == 502
    assert "10.0.0.1" not in json.dumps(answer)
    gateway.lookup.fail = InvalidInputError("query CLK refused as implausible: few bits")
    status, answer = gateway.api(QUERY)
    assert status == 400
    assert "add the phone number and the address" in answer["error"]


def test_cross_origin_posts_and_foreign_hosts_are_refused(gateway: Gateway) -> None:
    evil = {"Origin": "https://evil.example"}
    assert gateway.api(QUERY, evil)[0] == 403
    assert gateway.form(QUERY, evil)[0] == 403
    assert gateway.request("GET", "/", headers={"Host": "rebind.example:80"})[0] == 403
    same = {"Origin": f"http://127.0.0.1:{gateway.port}"}
    assert gateway.api(QUERY, same)[0] == 200
    assert len(gateway.lookup.requests) == 1


def test_authentication_when_a_token_is_configured(tmp_path: Path) -> None:
    app, lookup = _app(tmp_path, token=TOKEN)
    gw = Gateway(app, lookup)
    try:
        assert gw.api(QUERY)[0] == 401
        assert gw.api(QUERY, {"Authorization": "Bearer wrong-token-wrong-token"})[0] == 401
        assert gw.api(QUERY, {"Authorization": f"Bearer {TOKEN}"})[0] == 200
        assert 'name="access_code"' in gw.request("GET", "/")[2].decode()
        assert gw.form(QUERY)[0] == 401
        assert gw.form(dict(QUERY, access_code=TOKEN))[0] == 200
    finally:
        gw.close()
    assert len(lookup.requests) == 2


def test_non_loopback_needs_opt_in_and_a_token(tmp_path: Path) -> None:
    app, _lookup = _app(tmp_path)
    with pytest.raises(ConfigError, match="--allow-remote"):
        start_gateway(app, "0.0.0.0:0")
    with pytest.raises(ConfigError, match="token"):
        start_gateway(app, "0.0.0.0:0", allow_non_loopback=True)


def test_gateway_tokens_come_from_a_private_file_or_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "gateway.token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_gateway_token(GatewaySettings(token_file=path), {})
    path.chmod(0o600)
    assert load_gateway_token(GatewaySettings(token_file=path), {}) == TOKEN
    assert load_gateway_token(GatewaySettings(token_env="GW"), {"GW": TOKEN}) == TOKEN
    with pytest.raises(ConfigError, match="16 characters"):
        load_gateway_token(GatewaySettings(token_env="GW"), {"GW": "short"})
    assert load_gateway_token(GatewaySettings(), {}) is None


def test_access_logs_never_hold_identifiers(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="agency_client")
    logger = logging.getLogger("agency_client")
    previous = logger.propagate
    logger.propagate = True
    try:
        gateway.api(QUERY)
        gateway.form(QUERY)
        gateway.request("GET", "/?given_name=Jordan&surname=Whitfield")
        gateway.api({"given_name": "Jordan"})
    finally:
        logger.propagate = previous
    text = caplog.text
    assert "POST /api/v1/lookup 200" in text
    assert "GET / 200" in text
    for value in QUERY.values():
        assert value not in text
    assert "Whitfield" not in text
    assert "Jordan" not in text


@pytest.mark.parametrize(
    "listen", ["localhost", "127.0.0.1:99999", "127.0.0.1:http", ":8765", "127.0.0.1:²"]
)
def test_a_malformed_listen_address_is_named(tmp_path: Path, listen: str) -> None:
    app, _lookup = _app(tmp_path)
    with pytest.raises(ConfigError, match=f"cannot listen on '{listen}': give host:port"):
        start_gateway(app, listen)


def test_a_taken_port_is_named(tmp_path: Path) -> None:
    app, _lookup = _app(tmp_path)
    first, thread = start_gateway(app, "127.0.0.1:0")
    try:
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{first.port}: "):
            start_gateway(app, f"127.0.0.1:{first.port}")
    finally:
        first.shutdown()
        first.server_close()
        thread.join(5)
