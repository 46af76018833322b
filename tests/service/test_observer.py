"""The service reports batches, rebuilds, lookups and index size to its observer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from linkage.errors import InvalidInputError
from linkage.service import LinkageService, LookupOutcome, ServiceLimits
from linkage.store import SqliteLinkStore
from tests.service.factory import (
    FINGERPRINT,
    OPERATOR,
    SETTINGS,
    agency,
    batch,
    clk_bytes,
    person,
    responder,
    upsert,
    variant,
)

pytestmark = pytest.mark.unit


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def batch_committed(self, agency_id: str, records: int, seconds: float) -> None:
        assert seconds >= 0
        self.calls.append(("batch", (agency_id, records)))

    def links_rebuilt(self, records: int, seconds: float) -> None:
        self.calls.append(("rebuild", records))

    def lookup_finished(self, outcome: LookupOutcome, seconds: float) -> None:
        self.calls.append(("lookup", outcome))

    def index_size(self, records: int, links: int) -> None:
        self.calls.append(("size", (records, links)))


def test_observer_sees_every_kind_of_work(tmp_path: Path) -> None:
    recorder = Recorder()
    service = LinkageService(
        SqliteLinkStore(tmp_path / "i.db"), SETTINGS, ServiceLimits(), observer=recorder
    )
    service.create_agency(OPERATOR, "police", "P", b"")
    service.create_agency(OPERATOR, "er", "E", b"")
    rng = np.random.default_rng(61)
    lee = person(rng)
    service.write_batch(agency("police"), batch("police", "p", upsert("l", lee)))
    service.write_batch(agency("er"), batch("er", "e", upsert("l", variant(rng, lee))))
    service.lookup(
        responder("police"), clk_bytes(variant(rng, lee)), 1, FINGERPRINT, "crisis_response", 0
    )
    service.lookup(
        responder("police"), clk_bytes(person(rng)), 1, FINGERPRINT, "crisis_response", 0
    )
    with pytest.raises(InvalidInputError):
        service.lookup(responder("police"), b"", 1, FINGERPRINT, "crisis_response", 0)
    service.rebuild(OPERATOR, "")
    assert ("batch", ("police", 1)) in recorder.calls
    assert ("size", (2, 1)) in recorder.calls
    outcomes = [value for kind, value in recorder.calls if kind == "lookup"]
    assert outcomes == [LookupOutcome.DISCLOSED, LookupOutcome.NOTHING, LookupOutcome.REFUSED]
    assert ("rebuild", 2) in recorder.calls
