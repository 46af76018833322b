"""An agency's loaded configuration and keys, and the batches every command stores.

:class:`AgencySession` is what every command that talks to the matcher opens (the config,
the pointer key and the record keys derived from it); :class:`Batcher` collects one
command's mutations into the serialised ``WriteBatchRequest`` batches that
:mod:`agency_client._workflow` stores as pending and :mod:`agency_client._sending` sends.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from agency_client._client_config import ClientConfig, load_client_config
from agency_client._keys import AgencyKeys
from agency_client._matcher import MatcherClient
from agency_client._state import Effect, UploadState
from agency_client.pointer import PointerKey, load_pointer_key, seal_pointer
from linkage.v1 import ingest_pb2

__all__ = ["AgencySession", "Batcher", "batch_id", "matcher_for", "open_session"]


@dataclass(frozen=True, slots=True)
class AgencySession:
    """A loaded config with the agency's keys."""

    config: ClientConfig
    pointer_key: PointerKey = field(repr=False)
    keys: AgencyKeys = field(repr=False)
    pointer_epoch: int
    fingerprint: str

    @property
    def agency_id(self) -> str:
        return self.config.agency_id

    def state(self) -> UploadState:
        return UploadState(self.config.state_file)

    def matcher(self) -> MatcherClient:
        return MatcherClient(self.config.matcher_address, self.config.agency_tls)

    def seal(self, local_id: str) -> bytes:
        return seal_pointer(self.pointer_key, self.agency_id, self.pointer_epoch, local_id)


def open_session(config_path: Path, environ: Mapping[str, str]) -> AgencySession:
    """Load ``agency.toml``, its secret and the pointer key."""
    config = load_client_config(config_path, environ)
    pointer_key = load_pointer_key(config.pointer_key_file)
    return AgencySession(
        config=config,
        pointer_key=pointer_key,
        keys=AgencyKeys.from_pointer_key(pointer_key, config.agency_id),
        pointer_epoch=config.encoding.key_epoch,
        fingerprint=config.encoding.encoding_schema.fingerprint,
    )


def batch_id(operation: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{operation}-{stamp}-{secrets.token_hex(4)}"


class Batcher:
    """Collects mutations into serialised batches of at most ``size``."""

    def __init__(self, session: AgencySession, operation: str, withdraw_all: bool = False) -> None:
        self.session = session
        self.operation = operation
        self.run_id = batch_id(operation)
        self.size = session.config.batch_size
        self.first_withdraws_all = withdraw_all
        self.batches: list[tuple[str, bool, int, bytes, Sequence[Effect]]] = []
        self._mutations: list[ingest_pb2.RecordMutation] = []
        self._effects: list[Effect] = []

    def add(self, mutation: ingest_pb2.RecordMutation, effect: Effect) -> None:
        self._mutations.append(mutation)
        self._effects.append(effect)
        if len(self._mutations) >= self.size:
            self.flush()

    def flush(self, *, force: bool = False) -> None:
        if not self._mutations and not (force and self.first_withdraws_all and not self.batches):
            return
        withdraw_all = self.first_withdraws_all and not self.batches
        batch_id = f"{self.run_id}-{len(self.batches) + 1:06d}"
        request = ingest_pb2.WriteBatchRequest(
            parent=self.session.config.parent,
            batch_id=batch_id,
            key_epoch=self.session.config.encoding.key_epoch,
            schema_fingerprint=self.session.fingerprint,
            mutations=self._mutations,
            withdraw_all=withdraw_all,
        )
        self.batches.append(
            (
                batch_id,
                withdraw_all,
                len(self._mutations),
                request.SerializeToString(),
                tuple(self._effects),
            )
        )
        self._mutations = []
        self._effects = []


@contextlib.contextmanager
def matcher_for(session: AgencySession) -> Iterator[MatcherClient]:
    client = session.matcher()
    try:
        yield client
    finally:
        client.close()
