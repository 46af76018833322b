"""The gateway's hardening over real sockets on 127.0.0.1: HTTPS with the agency's own
certificate (made here with linkage.pki), the security headers on every response, the
packaged page, body and JSON limits, and robustness against idle connections and slow
bodies (issue 22, item 4: eight of either stopped the http.server gateway)."""

from __future__ import annotations

import fnmatch
import http.client
import json
import re
import socket
import ssl
import time
import tomllib
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import agency_client
from agency_client._client_config import HttpsFiles, load_client_config
from agency_client._gateway_http import (
    CONTENT_SECURITY_POLICY,
    GatewayLimits,
    json_depth_exceeds,
)
from agency_client._gateway_server import server_tls_context, start_gateway
from linkage.errors import ConfigError
from linkage.pki import generate_private_key, private_key_to_pem
from tests.agency_client.gateway_fixtures import (
    QUERY,
    TOKEN,
    Gateway,
    WebCertificate,
    make_app,
    make_web_certificate,
)
from tests.agency_client.workflow_fixtures import make_agency_folder

pytestmark = pytest.mark.unit

JSON_HEADERS = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    app, lookup = make_app(tmp_path)
    gw = Gateway(app, lookup)
    yield gw
    gw.close()


@pytest.fixture
def web(tmp_path: Path) -> WebCertificate:
    return make_web_certificate(tmp_path / "web")


def _raw(port: int, data: bytes, *, timeout: float = 5.0) -> bytes:
    """Send bytes on a fresh connection and read until the gateway closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the peer closes ``sock`` within ``seconds`` (reads and discards data)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            if sock.recv(65536) == b"":
                return True
        except TimeoutError:
            return False
        except OSError:
            return True
    return False


def _assert_secured(headers: dict[str, str], *, https: bool) -> None:
    lowered = {k.lower(): v for k, v in headers.items()}
    assert lowered["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert lowered["x-content-type-options"] == "nosniff"
    assert lowered["referrer-policy"] == "no-referrer"
    assert lowered["cache-control"] == "no-store"
    assert lowered["x-frame-options"] == "DENY"
    assert "server" not in lowered
    if https:
        assert lowered["strict-transport-security"].startswith("max-age=")
    else:
        assert "strict-transport-security" not in lowered


# ------------------------------------------------------------------ headers and the page


def test_the_content_security_policy_allows_no_inline_code_and_no_framing() -> None:
    directives = dict(d.strip().split(" ", 1) for d in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["form-action"] == "'self'"
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert "unsafe-eval" not in CONTENT_SECURITY_POLICY


def test_every_response_carries_the_security_headers(gateway: Gateway) -> None:
    seen = []
    for method, path, body, headers in [
        ("GET", "/", None, {}),
        ("HEAD", "/", None, {}),
        ("GET", "/healthz", None, {}),
        ("GET", "/static/gateway.css", None, {}),
        ("GET", "/static/gateway.js", None, {}),
        ("GET", "/static/missing.css", None, {}),
        ("GET", "/nothing", None, {}),
        ("GET", "/api/v1/lookup", None, {}),
        ("GET", "/", None, {"Host": "rebind.example"}),
        ("POST", "/api/v1/lookup", b"{}", {"Content-Type": "application/json"}),
        ("POST", "/api/v1/lookup", b"x" * 20000, JSON_HEADERS),
        ("POST", "/api/v1/lookup", b"[", JSON_HEADERS),
        ("POST", "/api/v1/lookup", json.dumps(QUERY).encode(), JSON_HEADERS),
        ("POST", "/lookup", b"given_name=x", {"Content-Type": "application/x-www-form-urlencoded"}),
    ]:
        status, answer_headers, _ = gateway.request(method, path, body, headers)
        _assert_secured(answer_headers, https=False)
        seen.append(status)
    assert seen == [200, 200, 200, 200, 200, 404, 404, 405, 403, 401, 413, 400, 200, 401]


def test_a_request_refused_before_the_app_still_gets_the_headers_and_json(
    gateway: Gateway,
) -> None:
    for request in (
        b"POST /api/v1/lookup HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n",
        b"POST /api/v1/lookup HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n",
        b"POST /api/v1/lookup HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n"
        b"Content-Length: 3\r\n\r\n{}",
        b"NOT A REQUEST\r\n\r\n",
    ):
        answer = _raw(gateway.port, request)
        head, _, body = answer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        assert lines[0].startswith("HTTP/1.1 400"), lines[0]
        headers = dict(line.split(": ", 1) for line in lines[1:])
        _assert_secured(headers, https=False)
        assert json.loads(body) == {"error": "malformed HTTP request"}
    assert gateway.lookup.requests == []


def test_request_heads_over_the_limit_are_refused(gateway: Gateway) -> None:
    status, headers, body = gateway.request("GET", "/healthz", headers={"X-Long": "a" * 17000})
    assert status == 431
    _assert_secured(headers, https=False)
    assert json.loads(body) == {"error": "the request head must be at most 16384 bytes"}
    # sent in pieces, h11 stops buffering at the limit: a protocol-level 400
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: ")
        try:
            for _ in range(40):
                sock.sendall(b"a" * 1000)
                time.sleep(0.005)
        except OSError:
            pass  # closed once over the limit
        answer = sock.recv(65536)
    assert answer.startswith((b"HTTP/1.1 400", b"HTTP/1.1 431")), answer[:40]


def test_the_page_is_the_packaged_template_with_no_inline_code(gateway: Gateway) -> None:
    page = gateway.request("GET", "/")[2].decode()
    assert '<link rel="stylesheet" href="/static/gateway.css">' in page
    assert '<script src="/static/gateway.js" defer></script>' in page
    assert re.search(r"<script(?![^>]*\bsrc=)", page) is None, "no inline script"
    assert "<style" not in page
    assert re.search(r"\sstyle=", page) is None, "no inline style attributes"
    assert re.search(r"\son[a-z]+=", page) is None, "no inline event handlers"
    status, headers, css = gateway.request("GET", "/static/gateway.css")
    assert status == 200
    assert headers["content-type"].startswith("text/css")
    assert b".result-card" in css or b".card" in css
    status, headers, script = gateway.request("GET", "/static/gateway.js")
    assert status == 200
    assert "javascript" in headers["content-type"]
    assert b"lookup-button" in script


@pytest.mark.parametrize(
    "path", ["/static/../_gateway.py", "/static/%2e%2e/_gateway.py", "/static/..%2f_gateway.py"]
)
def test_static_files_do_not_reach_outside_their_folder(gateway: Gateway, path: str) -> None:
    status, _, body = gateway.request("GET", path)
    assert status == 404
    assert b"GatewayApp" not in body


# ------------------------------------------------------------------------------- HTTPS


def test_https_with_the_agencys_certificate(tmp_path: Path, web: WebCertificate) -> None:
    app, lookup = make_app(tmp_path)
    gw = Gateway(app, lookup, web=web)
    try:
        assert gw.server.scheme == "https"
        status, headers, body = gw.request("GET", "/healthz")
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        _assert_secured(headers, https=True)
        assert gw.api(QUERY)[0] == 200
        connection = gw.connection()
        connection.connect()
        assert isinstance(connection.sock, ssl.SSLSocket)
        version, cipher = connection.sock.version(), connection.sock.cipher()
        connection.close()
        assert version in ("TLSv1.2", "TLSv1.3")
        assert cipher is not None
        assert "GCM" in cipher[0] or "CHACHA20" in cipher[0]
        # plain HTTP to the HTTPS port never gets an HTTP answer
        answer = _raw(gw.port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert b"200" not in answer
        assert b'"ok"' not in answer
        # TLS 1.1 and older are refused
        old = web.client_context()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            old.maximum_version = ssl.TLSVersion.TLSv1_1
        with (
            pytest.raises((ssl.SSLError, ConnectionError)),
            socket.create_connection(("127.0.0.1", gw.port), timeout=5) as sock,
            old.wrap_socket(sock, server_hostname="127.0.0.1"),
        ):
            pass
    finally:
        gw.close()
    assert len(lookup.requests) == 1


def test_beyond_loopback_only_https_is_served(tmp_path: Path, web: WebCertificate) -> None:
    app, lookup = make_app(tmp_path)
    with pytest.raises(ConfigError, match=r"set \[gateway\] https_cert and https_key"):
        start_gateway(app, "0.0.0.0:0", allow_non_loopback=True)
    with pytest.raises(ConfigError, match="--allow-remote"):
        start_gateway(app, "0.0.0.0:0", https=web.files)
    gw = Gateway(app, lookup, "0.0.0.0:0", web=web, allow_non_loopback=True)
    try:
        headers = {"Host": f"gateway.agency.example:{gw.port}"}
        status, answer_headers, _ = gw.request("GET", "/healthz", headers=headers)
        assert status == 200, "beyond loopback the Host is the agency's own name"
        _assert_secured(answer_headers, https=True)
        assert gw.api(QUERY, headers)[0] == 200
        assert gw.api(QUERY, headers, token=None)[0] == 401
    finally:
        gw.close()


def test_the_https_key_must_be_private_and_match_the_certificate(
    tmp_path: Path, web: WebCertificate
) -> None:
    web.files.key.chmod(0o644)
    with pytest.raises(ConfigError, match=r"gateway HTTPS key .*chmod 600"):
        server_tls_context(web.files)
    web.files.key.chmod(0o600)
    other = make_web_certificate(tmp_path / "other")
    with pytest.raises(ConfigError, match="not a PEM certificate chain"):
        server_tls_context(HttpsFiles(web.files.cert, other.files.key))
    encrypted = tmp_path / "encrypted.pem"
    encrypted.touch(mode=0o600)
    encrypted.write_bytes(private_key_to_pem(generate_private_key(), passphrase=b"secret"))
    with pytest.raises(ConfigError, match="its unencrypted private key"):
        server_tls_context(HttpsFiles(web.files.cert, encrypted))
    with pytest.raises(ConfigError, match="no certificate file"):
        server_tls_context(HttpsFiles(tmp_path / "missing.pem", web.files.key))
    with pytest.raises(ConfigError, match="cannot read the gateway HTTPS key"):
        server_tls_context(HttpsFiles(web.files.cert, tmp_path / "missing.key"))
    assert server_tls_context(web.files).minimum_version == ssl.TLSVersion.TLSv1_2


def test_https_files_come_from_the_gateway_table(tmp_path: Path) -> None:
    folder = make_agency_folder(tmp_path / "site", people=3)
    text = folder.config.read_text()
    both = 'listen = "127.0.0.1:0"\nhttps_cert = "web/cert.pem"\nhttps_key = "web/key.pem"\n'
    folder.config.write_text(text.replace('listen = "127.0.0.1:0"\n', both, 1))
    settings = load_client_config(folder.config, {}).gateway
    assert settings.https == HttpsFiles(
        folder.root.resolve() / "web/cert.pem", folder.root.resolve() / "web/key.pem"
    )
    one = 'listen = "127.0.0.1:0"\nhttps_cert = "web/cert.pem"\n'
    folder.config.write_text(text.replace('listen = "127.0.0.1:0"\n', one, 1))
    with pytest.raises(ConfigError, match="name https_cert and https_key together"):
        load_client_config(folder.config, {})


# ------------------------------------------------------------------- limits and bodies


def test_a_body_over_the_limit_is_413_declared_or_chunked(gateway: Gateway) -> None:
    status, _, body = gateway.request("POST", "/api/v1/lookup", b"x" * 20000, JSON_HEADERS)
    assert status == 413
    assert json.loads(body) == {"error": "the request body must be at most 16384 bytes"}
    connection = gateway.connection()
    try:
        connection.request(
            "POST",
            "/api/v1/lookup",
            body=iter([b"x" * 4096] * 5),
            headers=JSON_HEADERS,
            encode_chunked=True,
        )
        assert connection.getresponse().status == 413
    finally:
        connection.close()
    huge = (
        b"POST /api/v1/lookup HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + TOKEN.encode() + b"\r\nContent-Length: 1000000000000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as sock:
        sock.sendall(huge)
        assert sock.recv(65536).startswith(b"HTTP/1.1 413"), "answered before any body"
    status, page = gateway.form({"given_name": "x" * 20000})
    assert status == 413
    assert "The request body must be at most 16384 bytes." in page
    assert gateway.lookup.requests == []


def test_json_nested_deeper_than_the_limit_is_a_named_400(gateway: Gateway) -> None:
    deep = "[" * 7000 + "]" * 7000
    for body in (deep, '{"a":' * 21 + "1" + "}" * 21):
        status, _, raw = gateway.request("POST", "/api/v1/lookup", body.encode(), JSON_HEADERS)
        assert status == 400
        assert json.loads(raw)["problems"] == [
            {"field": "body", "reason": "nests deeper than 20 levels"}
        ]
    # brackets inside strings do not count, and 20 levels are parsed
    status, answer = gateway.api(dict(QUERY, suburb="[" * 50))
    assert status == 200
    status, answer = gateway.api({"given_name": json.loads("[" * 19 + "]" * 19)})
    assert status == 400
    assert {"field": "given_name", "reason": "must be text"} in answer["problems"]
    assert len(gateway.lookup.requests) == 1


def test_json_depth_scan() -> None:
    assert not json_depth_exceeds('{"a": [1, {"b": "[[[[[["}]}', 3)
    assert json_depth_exceeds('{"a": [1, {"b": [[]]}]}', 3)
    assert not json_depth_exceeds('"\\"[[[[["', 1)
    assert not json_depth_exceeds("[" * 20 + "]" * 20, 20)
    assert json_depth_exceeds("[" * 21, 20)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "is not JSON"),
        (b"\xff\xfe{}", "is not UTF-8"),
        (b"1" * 5000, "is not JSON"),
        (b"", "is not JSON"),
        (b'["a list"]', "must be a JSON object"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_a_named_400(
    gateway: Gateway, body: bytes, reason: str
) -> None:
    status, _, answer = gateway.request("POST", "/api/v1/lookup", body, JSON_HEADERS)
    assert status == 400
    assert json.loads(answer)["problems"] == [{"field": "body", "reason": reason}]


# ---------------------------------------------------------------------------- robustness


def _timed_health(gw: Gateway) -> float:
    started = time.perf_counter()
    status, _, body = gw.request("GET", "/healthz")
    elapsed = time.perf_counter() - started
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    return elapsed


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
def test_200_idle_connections_do_not_stop_healthz_or_a_lookup(tmp_path: Path, https: bool) -> None:
    web = make_web_certificate(tmp_path / "web") if https else None
    app, lookup = make_app(tmp_path)
    gw = Gateway(app, lookup, web=web)
    idle: list[socket.socket] = []
    try:
        for index in range(200):
            sock = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
            idle.append(sock)
            if not https and index % 2:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # half a head
        time.sleep(0.2)  # the gateway has accepted them all
        for _ in range(5):
            assert _timed_health(gw) < 1.0
        started = time.perf_counter()
        assert gw.api(QUERY)[0] == 200
        assert time.perf_counter() - started < 5.0
        assert all(not _closed_within(sock, 0.01) for sock in idle[:10]), "still open"
    finally:
        for sock in idle:
            sock.close()
        gw.close()


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
def test_keep_alive_requests_are_not_held_for_a_delayed_ack(tmp_path: Path, https: bool) -> None:
    # found by the gateway timing test (issue 22): without TCP_NODELAY on accepted
    # connections, every request after the first on a keep-alive connection waited about
    # 40 ms for the client's delayed ACK before the response body was sent
    web = make_web_certificate(tmp_path / "web") if https else None
    app, lookup = make_app(tmp_path)
    gw = Gateway(app, lookup, web=web)
    connection = gw.connection()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    elapsed: list[float] = []
    try:
        for index in range(12):
            started = time.perf_counter()
            if index % 2:
                connection.request("POST", "/api/v1/lookup", json.dumps(QUERY).encode(), headers)
            else:
                connection.request("GET", "/healthz")
            response = connection.getresponse()
            response.read()
            assert response.status == 200
            elapsed.append(time.perf_counter() - started)
    finally:
        connection.close()
        gw.close()
    later = sorted(elapsed[2:])  # one connection throughout: every one after the first
    assert later[len(later) // 2] < 0.02, f"median {1000 * later[len(later) // 2]:.1f} ms"


def test_slow_bodies_do_not_stop_healthz_or_a_lookup_and_end_in_408(tmp_path: Path) -> None:
    app, lookup = make_app(tmp_path)
    gw = Gateway(app, lookup, limits=GatewayLimits(body_timeout_s=1.5))
    head = (
        b"POST /api/v1/lookup HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + TOKEN.encode() + b"\r\nContent-Length: 1000\r\n\r\n"
    )
    slow: list[socket.socket] = []
    try:
        for _ in range(50):
            sock = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
            sock.sendall(head + b'{"given_name": "Jo')  # 1,000 promised, 18 sent
            slow.append(sock)
        started = time.perf_counter()
        for _ in range(3):
            assert _timed_health(gw) < 1.0
        assert gw.api(QUERY)[0] == 200
        assert time.perf_counter() - started < 1.5, "answered while every slow body waits"
        for sock in slow:
            sock.settimeout(5)
            answer = b""
            while chunk := sock.recv(65536):  # until the gateway closes it
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 408"), answer[:40]
            assert answer.endswith(b'{"error": "the request body did not arrive in time"}')
    finally:
        for sock in slow:
            sock.close()
        gw.close()
    assert len(lookup.requests) == 1


def test_connections_that_never_finish_a_request_head_are_closed(tmp_path: Path) -> None:
    app, lookup = make_app(tmp_path)
    gw = Gateway(app, lookup, limits=GatewayLimits(head_timeout_s=0.5))
    try:
        with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as silent:
            assert _closed_within(silent, 3.0), "a connection that sends nothing"
        with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as dribble:
            closed = False
            for byte in b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100:
                try:
                    dribble.send(bytes([byte]))
                except OSError:
                    closed = True
                    break
                if _closed_within(dribble, 0.1):
                    closed = True
                    break
            assert closed, "a head sent a byte at a time"
        connection = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=5)
        try:
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            assert response.status == 200
            response.read()
            assert connection.sock is not None
            assert _closed_within(connection.sock, 3.0), "idle after a response"
        finally:
            connection.close()
        assert _timed_health(gw) < 1.0
    finally:
        gw.close()
    assert lookup.requests == []


def test_every_page_file_is_declared_as_package_data() -> None:
    """A designer's new file under templates/ or static/ must reach the installed package."""
    root = Path(agency_client.__file__).parent
    project = tomllib.loads((root.parent / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = project["tool"]["setuptools"]["package-data"]["agency_client"]
    files = [
        path.relative_to(root).as_posix()
        for folder in ("templates", "static")
        for path in (root / folder).iterdir()
        if path.is_file()
    ]
    assert {"templates/gateway.html", "static/gateway.css", "static/gateway.js"} <= set(files)
    for name in files:
        assert any(fnmatch.fnmatch(name, p) for p in patterns), f"{name}: add it to package-data"
    assert {"starlette", "uvicorn", "jinja2"} <= {
        d.split(">")[0].split("<")[0].split("=")[0].lower()
        for d in project["project"]["dependencies"]
    }
