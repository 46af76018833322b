"""Sending the stored batches (the send step of :mod:`agency_client._workflow`): each
pending batch is applied to the local state only once the matcher acknowledged it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from agency_client._state import UploadState
from linkage.errors import FailedPreconditionError, UnavailableError
from linkage.v1 import ingest_pb2

__all__ = ["BatchSender", "SendReport", "send_pending"]

_RETRY_DELAYS_S: Final = (1.0, 2.0, 4.0)


class BatchSender(Protocol):
    """What :func:`send_pending` needs of a matcher client."""

    def stream_batches(
        self, requests: Iterable[ingest_pb2.WriteBatchRequest]
    ) -> Iterator[ingest_pb2.WriteBatchResponse]: ...


@dataclass(slots=True)
class SendReport:
    """What the matcher acknowledged in one send."""

    batches: int = 0
    replayed: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    consent_updated: int = 0
    linked: int = 0
    retries: int = 0

    def add(self, response: ingest_pb2.WriteBatchResponse) -> None:
        self.batches += 1
        self.replayed += int(response.replayed)
        self.inserted += response.inserted_count
        self.updated += response.updated_count
        self.unchanged += response.unchanged_count
        self.withdrawn += response.withdrawn_count
        self.consent_updated += response.consent_updated_count
        self.linked += response.linked_count


def send_pending(
    state: UploadState,
    client: BatchSender,
    *,
    progress: Callable[[int], object] | None = None,
    retry_delays: Sequence[float] = _RETRY_DELAYS_S,
    sleep: Callable[[float], object] = time.sleep,
) -> SendReport:
    """Send every pending batch; each is applied to the state only once acknowledged.

    Transient failures (the matcher unreachable) are retried after ``retry_delays``;
    if they persist, :class:`UnavailableError` is raised with the rest still pending.
    """
    report = SendReport()
    attempt = 0
    while True:
        pending = list(state.pending())
        if not pending:
            return report
        try:
            requests = (ingest_pb2.WriteBatchRequest.FromString(p.request) for p in pending)
            acknowledged = 0
            # the stream first: zip then reads it to its end (the call's final status)
            # instead of dropping it after the last batch, which cancelled the call
            for response, batch in zip(client.stream_batches(requests), pending, strict=False):
                if response.name and not response.name.endswith("/batches/" + batch.batch_id):
                    raise FailedPreconditionError(
                        "the matcher acknowledged a batch out of order; nothing more was "
                        "applied locally; run the same command again"
                    )
                state.acknowledge(batch.seq)
                report.add(response)
                acknowledged += 1
                if progress is not None:
                    progress(batch.mutation_count)
            if acknowledged < len(pending):
                raise UnavailableError(
                    "the matcher closed the stream early; run the same command again "
                    "(acknowledged batches are kept)"
                )
        except UnavailableError:
            if attempt >= len(retry_delays):
                raise
            sleep(retry_delays[attempt])
            attempt += 1
            report.retries += 1
