"""The matcher as a real process: graceful shutdown on SIGTERM, a crash
(SIGKILL) in the middle of a stream of batches, and concurrent agencies."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from linkage.channel import mtls_channel
from linkage.pki import DemoCredentials, DemoPki
from linkage.portfile import wait_for_port_file
from linkage.v1 import (
    common_pb2,
    ingest_pb2,
    ingest_pb2_grpc,
    lookup_pb2_grpc,
    operator_pb2,
    operator_pb2_grpc,
)
from tests.server.conftest import AGENCIES, write_config
from tests.server.protos import query, upsert, write
from tests.service.factory import person, variant

pytestmark = pytest.mark.integration


class ServerProcess:
    def __init__(self, root: Path, pki: DemoPki) -> None:
        self.root = root
        self.pki = pki
        self.config = write_config(root, pki)
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self) -> None:
        port_file = self.root / "port"
        port_file.unlink(missing_ok=True)
        with open(self.root / "server.log", "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "linkage.server.cli", "serve", "--config", str(self.config),
                 "--port-file", str(port_file)],
                cwd=self.root,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )  # fmt: skip
        self.port = wait_for_port_file(port_file, self.proc, "server", log=self.root / "server.log")

    def channel(self, creds: DemoCredentials) -> grpc.Channel:
        assert creds.paths.private_key is not None
        return mtls_channel(
            f"localhost:{self.port}",
            ca_certificate=creds.paths.ca_certificate,
            certificate=creds.paths.certificate,
            private_key=creds.paths.private_key,
        )

    def signal(self, sig: int) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)


@pytest.fixture
def server(tmp_path: Path, demo_pki: DemoPki) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path, demo_pki)
    proc.start()
    op = operator_pb2_grpc.OperatorServiceStub(proc.channel(demo_pki.operator))
    for agency_id in AGENCIES:
        op.CreateAgency(
            operator_pb2.CreateAgencyRequest(
                agency_id=agency_id,
                agency=operator_pb2.Agency(
                    display_name=agency_id,
                    contact_card=common_pb2.ContactCard(display_name=agency_id),
                ),
            )
        )
    yield proc
    if proc.proc is not None and proc.proc.poll() is None:
        proc.proc.kill()
        proc.proc.wait()


def _keys(proc: ServerProcess, agency_id: str) -> set[bytes]:
    stub = ingest_pb2_grpc.IngestServiceStub(proc.channel(proc.pki.agencies[agency_id]))
    keys: set[bytes] = set()
    token = ""
    while True:
        page = stub.ListRecords(
            ingest_pb2.ListRecordsRequest(parent=f"agencies/{agency_id}", page_token=token)
        )
        keys.update(r.record_key for r in page.records)
        token = page.next_page_token
        if not token:
            return keys


def test_sigterm_lets_in_flight_calls_finish_and_exits_cleanly(server: ServerProcess) -> None:
    """Graceful shutdown's promise: after SIGTERM the matcher takes no new call, lets a
    call already in flight run to its end (here a stream that sends a batch only after
    the signal), commits everything it acknowledged, and exits 0."""
    assert server.proc is not None
    rng = np.random.default_rng(21)
    police = server.pki.agencies["police"]
    first = write("police", "first", *(upsert(f"a{i}", person(rng)) for i in range(10)))
    late = write("police", "late", *(upsert(f"k{i}", person(rng)) for i in range(400)))
    outgoing: queue.Queue[ingest_pb2.WriteBatchRequest | None] = queue.Queue()
    outgoing.put(first)

    def requests() -> Iterator[ingest_pb2.WriteBatchRequest]:
        while (request := outgoing.get(timeout=60)) is not None:
            yield request

    stub = ingest_pb2_grpc.IngestServiceStub(server.channel(police))
    replies = stub.StreamWriteBatches(requests())
    # The first batch's reply proves the call is in flight at the server.
    assert next(replies).inserted_count == 10
    server.proc.send_signal(signal.SIGTERM)
    # Shutting down: a new call is refused (the signal is handled asynchronously). The
    # probe replays the first batch, so one that still got in changes nothing.
    probe = ingest_pb2_grpc.IngestServiceStub(server.channel(police))
    deadline = time.monotonic() + 20
    refused: grpc.StatusCode | None = None
    while refused is None:
        try:
            assert probe.WriteBatch(first, timeout=5).inserted_count == 10
        except grpc.RpcError as error:
            refused = error.code()
        else:
            assert time.monotonic() < deadline, "the matcher still takes new calls after SIGTERM"
            time.sleep(0.05)
    assert refused == grpc.StatusCode.UNAVAILABLE
    # The call in flight goes on: its next batch is committed and acknowledged.
    outgoing.put(late)
    outgoing.put(None)
    assert [reply.inserted_count for reply in replies] == [400]
    assert server.proc.wait(timeout=30) == 0
    server.start()
    assert len(_keys(server, "police")) == 410, "everything acknowledged was committed"
    server.signal(signal.SIGTERM)


def test_a_crash_mid_stream_loses_no_acknowledged_batch_and_leaves_no_partial_one(
    server: ServerProcess,
) -> None:
    rng = np.random.default_rng(22)
    batches = [
        write("er", f"b{i:03d}", *(upsert(f"b{i:03d}-r{j}", person(rng)) for j in range(50)))
        for i in range(60)
    ]
    stub = ingest_pb2_grpc.IngestServiceStub(server.channel(server.pki.agencies["er"]))
    acked: list[str] = []
    killed = threading.Event()

    def requests() -> Iterator[ingest_pb2.WriteBatchRequest]:
        for request in batches:
            if killed.is_set():
                return
            yield request

    code = grpc.StatusCode.OK
    try:
        for reply in stub.StreamWriteBatches(requests()):
            acked.append(reply.name.rsplit("/", 1)[1])
            if len(acked) == 7:
                assert server.proc is not None
                os.kill(server.proc.pid, signal.SIGKILL)
                killed.set()
    except grpc.RpcError as error:
        code = error.code()
    assert code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN)
    assert server.proc is not None
    server.proc.wait(timeout=30)
    assert len(acked) >= 7
    server.start()
    keys = _keys(server, "er")
    by_batch: dict[str, int] = {}
    for key in keys:
        by_batch[key.decode().split("-")[0]] = by_batch.get(key.decode().split("-")[0], 0) + 1
    for batch_id in acked:
        assert by_batch.get(batch_id) == 50, f"acknowledged batch {batch_id} is incomplete"
    assert all(count == 50 for count in by_batch.values()), "a partial batch exists"
    # Re-sending everything completes the data; committed batches are replays.
    stub = ingest_pb2_grpc.IngestServiceStub(server.channel(server.pki.agencies["er"]))
    replies = list(stub.StreamWriteBatches(iter(batches)))
    assert all(r.replayed for r in replies if r.name.rsplit("/", 1)[1] in acked)
    assert len(_keys(server, "er")) == 60 * 50
    server.signal(signal.SIGTERM)


def test_agencies_upload_concurrently_while_responders_look_up(server: ServerProcess) -> None:
    rng = np.random.default_rng(23)
    people = [person(rng) for _ in range(120)]
    errors: list[BaseException] = []
    done = threading.Event()

    def upload(agency_id: str, seed: int) -> None:
        local = np.random.default_rng(seed)
        stub = ingest_pb2_grpc.IngestServiceStub(server.channel(server.pki.agencies[agency_id]))
        try:
            for b in range(6):
                chosen = local.choice(len(people), size=20, replace=False)
                stub.WriteBatch(
                    write(
                        agency_id,
                        f"{agency_id}-{b}",
                        *(upsert(f"p{i}", variant(local, people[i])) for i in chosen),
                    )
                )
        except BaseException as error:
            errors.append(error)

    def look(agency_id: str) -> None:
        local = np.random.default_rng(99)
        stub = lookup_pb2_grpc.LookupServiceStub(server.channel(server.pki.responders[agency_id]))
        try:
            while not done.is_set():
                stub.Lookup(query(variant(local, people[int(local.integers(len(people)))])))
        except BaseException as error:
            errors.append(error)

    uploaders = [threading.Thread(target=upload, args=(a, i)) for i, a in enumerate(AGENCIES)]
    lookers = [threading.Thread(target=look, args=(a,)) for a in AGENCIES[:2]]
    for t in uploaders + lookers:
        t.start()
    for t in uploaders:
        t.join(timeout=120)
    done.set()
    for t in lookers:
        t.join(timeout=30)
    assert errors == []
    # The index is consistent: a rebuild from scratch changes no link.
    op = operator_pb2_grpc.OperatorServiceStub(server.channel(server.pki.operator))
    before = op.GetIndexStatus(operator_pb2.GetIndexStatusRequest())
    run = op.RebuildLinks(operator_pb2.RebuildLinksRequest(reason="consistency"))
    assert run.changed_link_count == 0
    assert run.link_count == before.link_count > 0
    server.signal(signal.SIGTERM)
