"""The query plausibility band follows the index in probabilistic mode, batch after batch,
and a probabilistic lookup is checked per segment: a query with only names and a date of
birth is valid, an all-ones segment or a query without a date of birth is refused naming
the segment (linkage/service/_mirror.py, Lookups.check_plausible in _lookup.py)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from linkage.consent import Purpose
from linkage.errors import InvalidInputError
from linkage.service import (
    ConsentChange,
    LinkageService,
    RecordWithdrawal,
    ServiceLimits,
    WriteBatch,
)
from linkage.store import SqliteLinkStore
from tests.service.factory import BITS, OPERATOR, agency, consent, responder
from tests.service.factory import SETTINGS as DICE
from tests.service.factory import upsert as dice_upsert
from tests.service.prob_factory import LAYOUT, with_probabilistic
from tests.service.prob_queries import (
    RECORD_BYTES,
    Encoded,
    encode_query,
    encoded_rows,
    open_service,
    record_popcounts,
    upsert,
    with_values,
)

pytestmark = pytest.mark.unit

SETTINGS = with_probabilistic(auto_refit=False)
AGENCY = "metro-police"
RECORD_BITS = 8 * RECORD_BYTES
#: below this many indexed records the band is the whole range (linkage/service/_mirror.py)
MIN_BAND_RECORDS = 50


def _expected_band(clks: list[bytes]) -> tuple[int, int]:
    """The band recomputed from the indexed records' record parts: inverted-CDF 0.1 % and
    99.9 % quantiles widened by a quarter of their distance on each side."""
    if len(clks) < MIN_BAND_RECORDS:
        return 1, RECORD_BITS - 1
    counts = record_popcounts(clks)
    low_q, high_q = np.quantile(counts, [0.001, 0.999], method="inverted_cdf")
    width = float(high_q - low_q)
    return (
        max(1, math.floor(low_q - 0.25 * width)),
        min(RECORD_BITS - 1, math.ceil(high_q + 0.25 * width)),
    )


def _band(service: LinkageService) -> tuple[int, int]:
    band = service._state.mirror.plausibility_band()
    assert band.bits == RECORD_BITS
    return band.low, band.high


def _write(service: LinkageService, batch_id: str, *mutations: object) -> None:
    service.write_batch(
        agency(AGENCY),
        WriteBatch(
            agency_id=AGENCY,
            batch_id=batch_id,
            key_epoch=1,
            schema_fingerprint=SETTINGS.schema_fingerprint,
            mutations=tuple(mutations),  # type: ignore[arg-type]
        ),
    )


def _sparse(record: Encoded) -> Encoded:
    """The record with only names, date of birth and sex (fewer record bits)."""
    values = with_values(
        record.row.values,
        middle_name=None,
        phone=None,
        street_address=None,
        address_line_2=None,
        suburb=None,
        postcode=None,
        state=None,
    )
    return Encoded(record.row, encode_query(values))


def test_the_band_follows_the_index_after_every_batch(tmp_path: Path) -> None:
    records = list(encoded_rows(1700, 3))
    assert len(records) >= 3001
    service, store = open_service(tmp_path / "band.db", SETTINGS, [AGENCY])
    assert service._state.mirror.band_words == (0, LAYOUT.record.stop_word if LAYOUT.record else 0)
    held: dict[bytes, bytes] = {}
    bands = []
    start = 0
    for number, size in enumerate([1, 999, 1000, 1001]):
        chunk = records[start : start + size]
        start += size
        if number == 1:  # a batch of sparse records moves the band down
            chunk = [_sparse(r) for r in chunk]
        _write(service, f"b{number}", *(upsert(r) for r in chunk))
        held.update((r.row.local_id.encode(), r.clk) for r in chunk)
        assert service.indexed_count == len(held)
        bands.append(_band(service))
        assert bands[-1] == _expected_band(list(held.values())), (number, size)
    assert bands[0] == (1, RECORD_BITS - 1)  # one record: no band yet
    assert len(set(bands)) == len(bands)  # every batch moved it

    # records leaving: withdrawn, and no longer linkable (consent)
    gone = sorted(held)[:700]
    _write(service, "withdraw", *(RecordWithdrawal(key) for key in gone[:400]))
    _write(
        service,
        "unlink",
        *(ConsentChange(key, consent(linkable=False), linkable=False) for key in gone[400:]),
    )
    for key in gone:
        del held[key]
    assert service.indexed_count == len(held)
    assert _band(service) == _expected_band(list(held.values()))

    # a record that may not be linked never counts
    extra = records[start : start + 150]
    _write(service, "unlinkable", *(upsert(r, linkable=False) for r in extra))
    assert _band(service) == _expected_band(list(held.values()))

    # a second matcher on the same store loads the same band
    other, other_store = open_service(tmp_path / "band.db", SETTINGS, [])
    assert _band(other) == _band(service)
    other_store.close()
    store.close()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    """One agency's records of a 300-person scenario, indexed once for the query tests
    (lookups change no links)."""
    records = [r for r in encoded_rows(300, 7) if r.row.agency_id == AGENCY]
    service, store = open_service(tmp_path_factory.mktemp("q") / "q.db", SETTINGS, [AGENCY])
    _write(service, "all", *(upsert(r) for r in records))
    assert service.indexed_count >= MIN_BAND_RECORDS
    yield service, records
    store.close()


Loaded = tuple[LinkageService, list[Encoded]]


def _lookup(service: LinkageService, clk: bytes) -> list[object]:
    return list(
        service.lookup(
            responder(AGENCY),
            clk,
            1,
            SETTINGS.schema_fingerprint,
            Purpose.CRISIS_RESPONSE.value,
            5,
        )
    )


def _refusal(service: LinkageService, clk: bytes) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInputError) as caught:
        _lookup(service, clk)
    return [(p.location, p.reason) for p in caught.value.problems]


def _segment(clk: bytes, name: str, fill: int) -> bytes:
    part = LAYOUT.part(name)
    data = bytearray(clk)
    data[8 * part.start_word : 8 * part.stop_word] = bytes([fill]) * (8 * part.words)
    return bytes(data)


def test_a_query_of_names_and_date_of_birth_only_is_not_refused(loaded: Loaded) -> None:
    service, records = loaded
    person = records[0].row.values
    only = with_values(
        [None] * len(person),
        given_name=person[0],
        surname=person[2],
        date_of_birth=person[3],
    )
    clk = encode_query(only)
    # its record part has fewer bits than the band admits for whole records ...
    assert int(record_popcounts([clk])[0]) < service._state.mirror.plausibility_band().low
    # ... and it is answered all the same: the person's link
    hits = _lookup(service, clk)
    assert len(hits) >= 1


def test_a_full_query_is_not_refused(loaded: Loaded) -> None:
    service, records = loaded
    assert _lookup(service, records[1].clk)


@pytest.mark.parametrize("segment", ["street", "given_name", "date_of_birth", "sex"])
def test_an_all_ones_segment_is_refused_naming_it(loaded: Loaded, segment: str) -> None:
    service, records = loaded
    assert _refusal(service, _segment(records[0].clk, segment, 0xFF)) == [
        (f"query.clk.{segment}", "more bits set than any real encoding")
    ]


def test_an_all_ones_key_segment_is_refused_naming_it(loaded: Loaded) -> None:
    service, records = loaded
    assert _refusal(service, _segment(records[0].clk, "given_key", 0xFF)) == [
        ("query.clk.given_key", "not a derived key")
    ]


def test_a_query_without_a_date_of_birth_is_refused_naming_it(loaded: Loaded) -> None:
    service, records = loaded
    # names and locality only: no date of birth (nor a phone or street to stand in for it)
    values = with_values(
        records[0].row.values,
        date_of_birth=None,
        phone=None,
        street_address=None,
        address_line_2=None,
    )
    [(location, reason)] = _refusal(service, encode_query(values))
    assert location.startswith("query.clk.")
    assert "date_of_birth" in location.removeprefix("query.clk.").split("|")
    assert reason == "missing: the query needs it"


def test_a_query_with_a_phone_or_street_instead_of_a_date_of_birth_is_looked_up(
    loaded: Loaded,
) -> None:
    service, records = loaded
    with_phone = next(r for r in records if r.row.values[5] and r.row.values[6])
    base = with_values(with_phone.row.values, date_of_birth=None)
    for changes in ({"street_address": None, "address_line_2": None}, {"phone": None}):
        _lookup(service, encode_query(with_values(base, **changes)))  # not refused


def test_a_query_without_names_is_refused_naming_them(loaded: Loaded) -> None:
    service, records = loaded
    clk = encode_query(with_values(records[0].row.values, given_name=None, surname=None))
    assert _refusal(service, clk) == [
        ("query.clk.given_name|surname", "missing: the query needs it")
    ]


def test_a_record_part_above_the_band_is_still_refused(loaded: Loaded) -> None:
    service, records = loaded
    band = service._state.mirror.plausibility_band()
    data = bytearray(records[0].clk)
    data[:RECORD_BYTES] = b"\xff" * RECORD_BYTES
    assert _refusal(service, bytes(data)) == [("query.clk", "all bits are one")]
    # one bit over the band's top
    bits = np.zeros(RECORD_BITS, dtype=bool)
    bits[: band.high + 1] = True
    data[:RECORD_BYTES] = np.packbits(bits).tobytes()
    assert _refusal(service, bytes(data)) == [
        ("query.clk", f"more bits set than the plausible band 1..{band.high}")
    ]


def _refusals_audited(service: LinkageService) -> list[dict[str, object]]:
    """The lookup.refused entries, once the counted repeats are written (refusals are
    grouped per principal, reason, fields and minute: linkage/service/_refusals.py)."""
    service.close()
    rows = service._store.iter_audit()
    return [json.loads(row.details) for row in rows if row.action == "lookup.refused"]


def test_a_refused_query_is_audited(loaded: Loaded) -> None:
    service, records = loaded
    before = sum(int(str(r["count"])) for r in _refusals_audited(service))
    _refusal(service, _segment(records[0].clk, "street", 0xFF))
    after = _refusals_audited(service)
    assert sum(int(str(r["count"])) for r in after) == before + 1
    assert after[-1]["reason"] == "implausible_query"
    assert after[-1]["fields"] == ["query.clk.street"]


def test_another_matcher_on_the_store_follows_the_band_across_a_pruned_feed(
    tmp_path: Path,
) -> None:
    """Dice mode, two processes on one store: the writer indexes 11 batches of exactly
    1,000 records (the change feed is pruned as it passes 10,000); the reader catches up
    before each lookup, and both bands match the one recomputed from every record."""
    limits = ServiceLimits(max_batch_mutations=2000, lookup_burst=10_000)
    writer_store = SqliteLinkStore(tmp_path / "dice.db")
    writer = LinkageService(writer_store, DICE, limits)
    writer.create_agency(OPERATOR, "police", "Police", b"")
    reader_store = SqliteLinkStore(tmp_path / "dice.db")
    reader = LinkageService(reader_store, DICE, limits)
    rng = np.random.default_rng(0)
    counts: list[int] = []
    for number in range(11):
        bits = rng.random((1000, BITS)) < 0.2 + 0.02 * number  # fuller batch by batch
        writer.write_batch(
            agency("police"),
            WriteBatch(
                agency_id="police",
                batch_id=f"b{number}",
                key_epoch=1,
                schema_fingerprint=DICE.schema_fingerprint,
                mutations=tuple(dice_upsert(f"r{number}-{j}", bits[j]) for j in range(1000)),
            ),
        )
        counts.extend(int(c) for c in bits.sum(axis=1))
        reader.lookup(
            responder("police"),
            np.packbits(bits[0]).tobytes(),
            1,
            DICE.schema_fingerprint,
            Purpose.CRISIS_RESPONSE.value,
            5,
        )
        low_q, high_q = np.quantile(counts, [0.001, 0.999], method="inverted_cdf")
        width = float(high_q - low_q)
        expected = (
            max(1, math.floor(low_q - 0.25 * width)),
            min(BITS - 1, math.ceil(high_q + 0.25 * width)),
        )
        for service in (writer, reader):
            band = service._state.mirror.plausibility_band()
            assert (band.low, band.high) == expected, number
        assert reader.indexed_count == len(counts)
    reader_store.close()
    writer_store.close()
