"""A key-epoch rotation end to end, with lookups running throughout (docs/key-rotation.md).

The demo's deployment (:class:`linkage.demo.DemoRun`): a real matcher process in its
default probabilistic mode on a real port with mutual TLS, four agencies with the real
``agency-client`` (subprocesses) and the police responder gateway (a subprocess, HTTP
JSON). A thread sends lookups of known and unknown people through the gateway the whole
time, while the programme moves from key epoch 1 to 2 with a new linkage secret:

1. ``linkage-admin epoch begin --to 2``;
2. each agency adds ``[rotation]`` (epoch 2, the new secret) and runs ``agency-client
   upload``, which sends the export in both epochs;
3. ``epoch status`` shows every agency on epoch 2; the police start a gateway with
   ``[rotation] lookups = "next"``, and the lookups switch to it (the old one stops);
4. ``linkage-admin epoch finish``;
5. each agency moves epoch 2 into ``[agency]`` and ``[secret]`` and removes ``[rotation]``;
   its next upload adopts the epoch-2 state and sends nothing.

No lookup fails, every lookup is answered with the links it had before the rotation, and
no record's link ID changes (read from the matcher's store before and after).
"""

from __future__ import annotations

import http.client
import json
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from linkage.demo import DemoRun
from linkage.demo._scenario import GATEWAY_AGENCY, PROTAGONIST_QUERY, UNKNOWN_QUERY
from linkage.synth import DEFAULT_AGENCIES

pytestmark = pytest.mark.integration

AGENCY_IDS = [a.agency_id for a in DEFAULT_AGENCIES]
#: Lookups per second through the gateway (below the matcher's per-principal limit).
_PACE_S = 0.15


def _queries(demo: DemoRun, people: int) -> list[dict[str, str]]:
    """The protagonist, a stranger and the first people of the scenario, as a CAD asks."""
    out = [dict(PROTAGONIST_QUERY), dict(UNKNOWN_QUERY)]
    for person in demo.scenario.people[:people]:
        out.append(
            {
                "given_name": person.given_name,
                "surname": person.surname,
                "date_of_birth": person.date_of_birth.isoformat(),
                "sex": person.sex,
                "phone": "0" + person.mobile,
                "street_address": f"{person.street_no} {person.street}",
                "suburb": person.suburb,
                "postcode": person.postcode,
                "state": person.state,
            }
        )
    return out


def _lookup(port: int, token: str, query: Mapping[str, str]) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(
            "POST",
            "/api/v1/lookup",
            body=json.dumps(dict(query)),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def _answer(payload: Any) -> frozenset[tuple[str, str]]:
    return frozenset((r["link"], r["agency"]) for r in payload["results"])


@dataclass
class _Lookups:
    """Sends the queries round and round through whichever gateway ``port`` names."""

    token: str
    queries: list[dict[str, str]]
    baseline: list[frozenset[tuple[str, str]]]
    port: int
    answered: int = 0
    failures: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        index = 0
        while not self.stop.is_set():
            which = index % len(self.queries)
            try:
                status, payload = _lookup(self.port, self.token, self.queries[which])
            except (OSError, http.client.HTTPException, ValueError) as exc:
                self.failures.append(f"query {which}: {type(exc).__name__}")
            else:
                if status != 200:
                    self.failures.append(f"query {which}: HTTP {status} {payload.get('error')}")
                else:
                    self.answered += 1
                    if _answer(payload) != self.baseline[which]:
                        self.changed.append(f"query {which} at lookup {self.answered}")
            index += 1
            time.sleep(_PACE_S)


def _node_links(store: Path) -> dict[tuple[str, bytes], int]:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT agency_id, record_key, link_id FROM records").fetchall()
    return {(a, bytes(k)): int(link) for a, k, link in rows}


def _write_secret(path: Path) -> None:
    path.write_text(secrets.token_hex(32) + "\n")
    path.chmod(0o600)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    run = DemoRun(work_dir=tmp_path_factory.mktemp("rotation") / "demo", people=80)
    try:
        run.prepare()
        run.start_matcher()
        run.enrol_agencies()
        for agency_id in AGENCY_IDS:
            run.init_agency(agency_id)
            run.upload(agency_id)
        run.start_gateway()
        yield run
    finally:
        run.stop()


def test_a_rotation_with_lookups_throughout(demo: DemoRun) -> None:
    server_toml = str(demo.work_dir / "server.toml")
    store = demo.work_dir / "matcher" / "index.sqlite"
    queries = _queries(demo, 10)
    baseline = [_answer(_lookup(demo.gateway_port, demo.gateway_token, q)[1]) for q in queries]
    assert baseline[0], "the protagonist is known and consented at the MHC"
    assert not baseline[1], "the stranger is unknown"
    links_before = _node_links(store)
    lookups = _Lookups(demo.gateway_token, queries, baseline, demo.gateway_port)
    thread = threading.Thread(target=lookups.run, daemon=True)
    thread.start()
    started = time.perf_counter()
    old_gateway = demo.gateway
    try:
        new_secret = demo.work_dir / "shared" / "linkage-secret-2.key"
        _write_secret(new_secret)
        begun = demo.run_cli(
            "linkage.admin", "epoch", "begin", "--config", server_toml, "--to", "2"
        )
        assert "key epoch 1 -> 2" in begun.stdout
        for agency_id in AGENCY_IDS:
            config = demo.agency_config(agency_id)
            config.write_text(
                config.read_text() + f'\n[rotation]\nkey_epoch = 2\nsecret_file = "{new_secret}"\n'
            )
            uploaded = demo.upload(agency_id)
            assert "the same export in key epoch 2, beside key epoch 1" in uploaded.stdout
        status = json.loads(
            demo.run_cli("linkage.admin", "epoch", "status", "--config", server_toml).stdout
        )
        assert status["ready_to_finish"], status
        assert all(a["only_on_current_epoch"] == 0 for a in status["agencies"].values())

        # the police switch their gateway to epoch 2: a second one, then traffic moves
        police = demo.agency_config(GATEWAY_AGENCY)
        police.write_text(police.read_text() + 'lookups = "next"\n')
        port_file = demo.agency_dir(GATEWAY_AGENCY) / "gateway-2.port"
        command = [
            demo.python, "-m", "agency_client.cli", "gateway",
            "--config", str(police), "--port-file", str(port_file),
        ]  # fmt: skip
        demo.gateway = demo._launch("gateway-2", command, port_file)
        lookups.port = demo._wait_for(demo.gateway, "gateway-2", port_file)
        time.sleep(1.0)  # lookups in flight on the old gateway finish
        assert old_gateway is not None
        old_gateway.terminate()
        old_gateway.wait(timeout=30)

        finished = demo.run_cli("linkage.admin", "epoch", "finish", "--config", server_toml)
        assert "key epoch 2 is in force" in finished.stdout
        rotated_s = time.perf_counter() - started

        # the agencies move epoch 2 into [agency] and [secret]: nothing is sent again
        for agency_id in AGENCY_IDS:
            config = demo.agency_config(agency_id)
            text = config.read_text()
            text = text[: text.index("\n[rotation]")] + "\n"
            text = text.replace("key_epoch = 1", "key_epoch = 2")
            text = re.sub(r'(\[secret\]\nfile = )"[^"]*"', rf'\1"{new_secret}"', text)
            config.write_text(text)
            again = demo.upload(agency_id)
            assert "upload-state.epoch-2.sqlite" in again.stderr
            assert "planned 0 changes" in again.stdout
        time.sleep(2 * _PACE_S * len(queries))  # a full round of lookups after it all
    finally:
        lookups.stop.set()
        thread.join(timeout=60)
        if old_gateway is not None and old_gateway.poll() is None:
            old_gateway.kill()  # the test failed before it stopped the epoch-1 gateway
            old_gateway.wait(timeout=30)
    print(
        f"rotation run: {lookups.answered} lookups answered during it, "
        f"{len(lookups.failures)} failed, {len(lookups.changed)} answers changed; "
        f"begin to finish {rotated_s:.1f} s"
    )
    assert lookups.failures == []
    assert lookups.changed == []
    assert lookups.answered >= 3 * len(queries)
    links_after = _node_links(store)
    assert links_after == links_before, "no record changed link"
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as conn:
        epochs = conn.execute("SELECT DISTINCT key_epoch FROM records").fetchall()
        leftover = conn.execute("SELECT COUNT(*) FROM next_epoch_records").fetchone()
    assert epochs == [(2,)]
    assert leftover == (0,)
