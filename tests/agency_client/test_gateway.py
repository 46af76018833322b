"""The gateway over real HTTP with a stand-in for the matcher's Lookup: routes, answers that
do not tell "not found" from "not permitted", authentication, origin checks and logs.

Hardening (HTTPS, security headers, limits, idle connections) is in
test_gateway_hardening.py."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from agency_client._client_config import GatewaySettings
from agency_client._gateway import implausible_query_message, load_gateway_token
from agency_client._gateway_page import NO_INFORMATION
from agency_client._gateway_server import start_gateway
from linkage.consent import Purpose
from linkage.errors import ConfigError, InvalidInputError, Problem, UnavailableError
from linkage.security import (
    band_from_range,
    check_query_clk_plausible,
    check_segments_plausible,
)
from tests.agency_client.gateway_fixtures import QUERY, TOKEN, Gateway, make_app

pytestmark = pytest.mark.unit


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    app, lookup = make_app(tmp_path)
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
        app, lookup = make_app(tmp_path / str(visible), visible=visible)
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
    assert headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    status, page = gateway.form(QUERY)
    assert status == 200
    assert "Known to: Valley &lt;Mental&gt; Health" in page
    assert "<Mental>" not in page
    assert 'href="tel:5550100"' in page
    assert "crisis line, 24/7" in page
    assert TOKEN not in page, "the access code is never echoed into the page"


def test_the_page_echoes_the_form_values_escaped(gateway: Gateway) -> None:
    status, page = gateway.form(dict(QUERY, suburb='"><script>alert(1)</script>'))
    assert status == 200
    assert "<script>alert" not in page
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in page


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
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    json_type = {"Content-Type": "application/json", **bearer}
    assert gateway.request("POST", "/api/v1/lookup", b"{", json_type)[0] == 400
    plain = {"Content-Type": "text/plain", **bearer}
    assert gateway.request("POST", "/api/v1/lookup", b"{}", plain)[0] == 415
    assert gateway.request("POST", "/api/v1/lookup", b"x" * 20000, json_type)[0] == 413
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


@pytest.mark.parametrize(
    ("reason", "location", "expected"),
    [
        ("fewer bits set than the plausible band 227..508", "clk", "too few details"),
        ("more bits set than the plausible band 227..508", "clk", "more than any one person"),
        ("more bits set than any real encoding", "clk.surname", "more than any one person"),
        (
            "missing: the query needs it",
            "clk.date_of_birth|phone|street",
            "needs the date of birth, the phone number or the street address",
        ),
    ],
)
def test_implausible_refusals_say_what_is_wrong(
    gateway: Gateway, reason: str, location: str, expected: str
) -> None:
    gateway.lookup.fail = InvalidInputError(
        "query CLK refused as implausible", problems=[Problem(location, reason)]
    )
    status, answer = gateway.api(QUERY)
    assert status == 400
    assert expected in answer["error"]
    if "more" in reason:
        assert "too few" not in answer["error"]


def test_cross_origin_posts_and_foreign_hosts_are_refused(gateway: Gateway) -> None:
    evil = {"Origin": "https://evil.example"}
    assert gateway.api(QUERY, evil)[0] == 403
    assert gateway.form(QUERY, evil)[0] == 403
    assert gateway.request("GET", "/", headers={"Host": "rebind.example:80"})[0] == 403
    # another site's page posting (browsers say so in Sec-Fetch-Site), or an opaque origin
    assert gateway.form(QUERY, {"Sec-Fetch-Site": "cross-site"})[0] == 403
    assert gateway.form(QUERY, {"Origin": "null"})[0] == 403
    assert gateway.form(QUERY, {"Origin": "null", "Sec-Fetch-Site": "cross-site"})[0] == 403
    same = {"Origin": f"http://127.0.0.1:{gateway.port}"}
    assert gateway.api(QUERY, same)[0] == 200
    # the page's own form post under Referrer-Policy: no-referrer, as Chromium sends it
    own = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}
    assert gateway.form(QUERY, own)[0] == 200
    assert len(gateway.lookup.requests) == 2


def test_every_lookup_needs_the_token_on_loopback_too(gateway: Gateway) -> None:
    assert gateway.api(QUERY, token=None)[0] == 401
    status, headers, _ = gateway.request(
        "POST", "/api/v1/lookup", json.dumps(QUERY).encode(), {"Content-Type": "application/json"}
    )
    assert status == 401
    assert headers["www-authenticate"].startswith("Bearer")
    assert gateway.api(QUERY, token="wrong-token-wrong-token")[0] == 401
    assert gateway.api(QUERY)[0] == 200
    assert 'name="access_code"' in gateway.request("GET", "/")[2].decode()
    assert gateway.form(QUERY, access_code=None)[0] == 401
    assert gateway.form(QUERY, access_code="wrong-token-wrong-token")[0] == 401
    assert gateway.form(QUERY)[0] == 200
    assert len(gateway.lookup.requests) == 2


def test_a_gateway_without_a_token_does_not_start(tmp_path: Path) -> None:
    app, _lookup = make_app(tmp_path, token=None)
    with pytest.raises(ConfigError, match=r"bearer token, on loopback too: set \[gateway\]"):
        start_gateway(app, "127.0.0.1:0")
    assert not app.authorised(None)
    assert not app.authorised("")


def test_the_purpose_is_the_gateways_a_request_cannot_choose_it(tmp_path: Path) -> None:
    app, lookup = make_app(tmp_path, purpose=Purpose.CARE_COORDINATION)
    gw = Gateway(app, lookup)
    try:
        status, answer = gw.api(dict(QUERY, purpose="crisis_response"))
        assert status == 400
        assert answer["problems"][0]["field"] == "purpose"
        assert "[gateway] purpose" in answer["problems"][0]["reason"]
        assert gw.form(dict(QUERY, purpose="crisis_response"))[0] == 400
        assert lookup.requests == [], "a request naming a purpose never reaches the matcher"
        assert gw.api(QUERY)[0] == 200
        (sent,) = lookup.requests
        assert sent.purpose == "care_coordination"
    finally:
        gw.close()


def test_non_loopback_needs_opt_in_a_token_and_https(tmp_path: Path) -> None:
    app, _lookup = make_app(tmp_path, token=None)
    with pytest.raises(ConfigError, match="--allow-remote"):
        start_gateway(app, "0.0.0.0:0")
    with pytest.raises(ConfigError, match="token"):
        start_gateway(app, "0.0.0.0:0", allow_non_loopback=True)
    app, _lookup = make_app(tmp_path / "with-token")
    with pytest.raises(ConfigError, match=r"HTTPS only: set \[gateway\] https_cert and https_key"):
        start_gateway(app, "0.0.0.0:0", allow_non_loopback=True)


def test_gateway_tokens_come_from_a_private_file_or_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "gateway.token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_gateway_token(GatewaySettings(token_file=path), {})
    path.chmod(0o600)
    assert load_gateway_token(GatewaySettings(token_file=path), {}) == TOKEN
    link = tmp_path / "link.token"
    link.symlink_to(path)
    with pytest.raises(ConfigError, match="not a link"):
        load_gateway_token(GatewaySettings(token_file=link), {})
    assert load_gateway_token(GatewaySettings(token_env="GW"), {"GW": TOKEN}) == TOKEN
    with pytest.raises(ConfigError, match="16 characters"):
        load_gateway_token(GatewaySettings(token_env="GW"), {"GW": "short"})
    assert load_gateway_token(GatewaySettings(), {}) is None


def test_access_logs_never_hold_identifiers(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logger = logging.getLogger("agency_client")
    previous = logger.propagate
    logger.propagate = True
    try:
        gateway.api(QUERY)
        gateway.form(QUERY)
        gateway.request("GET", "/?given_name=Jordan&surname=Whitfield")
        gateway.request("GET", "/Jordan-Whitfield")
        gateway.api({"given_name": "Jordan"})
        gateway.lookup.fail = RuntimeError(f"unexpected, with {QUERY['surname']} in it")
        assert gateway.api(QUERY) == (500, {"error": "the gateway failed; try again"})
        # the server thread logs after the answer has left: wait for its last lines
        expected = ("POST /api/v1/lookup 200", "GET / 200", "GET (other) 404", "RuntimeError")
        deadline = time.monotonic() + 10
        while not all(line in caplog.text for line in expected) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        logger.propagate = previous
    text = caplog.text
    assert "POST /api/v1/lookup 200" in text
    assert "GET / 200" in text
    assert "GET (other) 404" in text
    assert "a request failed unexpectedly: RuntimeError" in text
    assert TOKEN not in text
    for value in QUERY.values():
        assert value not in text
    assert "Whitfield" not in text
    assert "Jordan" not in text


@pytest.mark.parametrize(
    "listen", ["localhost", "127.0.0.1:99999", "127.0.0.1:http", ":8765", "127.0.0.1:²"]
)
def test_a_malformed_listen_address_is_named(tmp_path: Path, listen: str) -> None:
    app, _lookup = make_app(tmp_path)
    with pytest.raises(ConfigError, match=f"cannot listen on '{listen}': give host:port"):
        start_gateway(app, listen)


def test_a_taken_port_is_named(tmp_path: Path) -> None:
    app, _lookup = make_app(tmp_path)
    first = start_gateway(app, "127.0.0.1:0")
    try:
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{first.port}: "):
            start_gateway(app, f"127.0.0.1:{first.port}")
    finally:
        first.close()


def _matcher_refusal(check: Callable[[], object]) -> list[Problem]:
    with pytest.raises(InvalidInputError, match="implausible") as refused:
        check()
    return list(refused.value.problems)


def test_the_gateway_reads_the_matchers_own_plausibility_problems() -> None:
    """The gateway tells the kinds apart by the matcher's reasons: produced here by the
    matcher's own checks, so a change of their wording fails this test."""
    band = band_from_range(1024, 200, 500)
    few = _matcher_refusal(lambda: check_query_clk_plausible(np.zeros(128, np.uint8), band))
    many = _matcher_refusal(lambda: check_query_clk_plausible(np.full(128, 255, np.uint8), band))
    words = np.zeros(4, dtype=np.uint64)
    words[0] = np.uint64(0xFF)  # a given name, nothing else
    segments = [("given_name", 0, 1, False), ("date_of_birth", 1, 2, False)]
    missing = _matcher_refusal(
        lambda: check_segments_plausible(words, segments, required=[("date_of_birth",)])
    )
    full = np.full(4, np.uint64(2**64 - 1), dtype=np.uint64)
    overfull = _matcher_refusal(lambda: check_segments_plausible(full, segments))
    assert "too few details" in implausible_query_message(few)
    assert "more than any one person" in implausible_query_message(many)
    assert implausible_query_message(missing).startswith("the query needs the date of birth")
    assert "more than any one person" in implausible_query_message(overfull)
