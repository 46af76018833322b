"""The lookup gate of probabilistic mode (``lookup_requires``, linkage/service/_probabilistic.py):
a responder's query gets no answer from a record whose given name or date of birth
disagrees outright with it, however well the rest agrees (twins, family members), while the
true person's query is answered.

Every query here is encoded from the synthetic people's own rows under the index's secret,
as an agency gateway would encode a responder's input. "Outright disagreement" is worked
out independently of the gate from the segment similarities (segment_dice) and the model's
level rules: both sides have the field and no agreement level of its comparison holds.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from linkage.consent import Purpose
from linkage.errors import ConfigError
from linkage.match import pack_clk_bytes
from linkage.probabilistic import segment_dice
from linkage.service import LinkageService
from linkage.store import SqliteLinkStore
from tests.service.factory import responder
from tests.service.prob_factory import LAYOUT, SEGMENTED_BITS, with_probabilistic
from tests.service.prob_queries import (
    Encoded,
    encode_query,
    encoded_rows,
    open_service,
    upload_by_agency,
    with_values,
)

pytestmark = pytest.mark.unit

GATED = with_probabilistic(auto_refit=False)
OPEN = with_probabilistic(auto_refit=False, lookup_requires=())
#: people (with two or more records) whose lookups are tried
PEOPLE = 60
TWIN_NAMES = ("quentin", "wilhelmina", "xanthe", "ulrich")


@dataclass
class World:
    gated: LinkageService
    open: LinkageService
    store: SqliteLinkStore
    people: dict[str, list[Encoded]]
    agencies: list[str]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    records = list(encoded_rows(300, 7))
    agencies = sorted({r.row.agency_id for r in records})
    path: Path = tmp_path_factory.mktemp("gate") / "gate.db"
    gated, store = open_service(path, GATED, agencies)
    upload_by_agency(gated, records, "all")
    # the same index read by a matcher without the gate
    ungated, other_store = open_service(path, OPEN, [])
    people: dict[str, list[Encoded]] = defaultdict(list)
    for record in records:
        people[record.row.person_id].append(record)
    several = {p: rs for p, rs in people.items() if len(rs) >= 2}
    chosen = dict(sorted(several.items())[:PEOPLE])
    assert len(chosen) == PEOPLE
    yield World(gated, ungated, store, chosen, agencies)
    other_store.close()
    store.close()


def _lookup(service: LinkageService, clk: bytes) -> list[int]:
    hits = service.lookup(
        responder("metro-police"),
        clk,
        1,
        GATED.schema_fingerprint,
        Purpose.CRISIS_RESPONSE.value,
        5,
    )
    return [hit.link_id for hit in hits]


def _links_of(store: SqliteLinkStore, records: list[Encoded]) -> set[int]:
    """The links holding these records (the person's links)."""
    keys = {(r.row.agency_id, r.row.local_id.encode()) for r in records}
    by_link: dict[int, list[int]] = defaultdict(list)
    for node, link in store.iter_node_links():
        by_link[link].append(node)
    return {
        m.link_id for m in store.link_members(list(by_link)) if (m.agency_id, m.record_key) in keys
    }


def _outright(service: LinkageService, query: bytes, record: bytes, comparison: str) -> bool:
    """Both sides have the field and none of its comparison's agreement rules holds."""
    linker = service.linker
    assert linker is not None
    [rules] = [c.rules for c in linker.model.comparisons if c.segment == comparison]
    packed = pack_clk_bytes([query, record], SEGMENTED_BITS)
    sims = segment_dice(packed, packed, np.array([0]), np.array([1]), LAYOUT)[0]
    value = {name: float(sims[LAYOUT.index(name)]) for name in LAYOUT.names}
    if np.isnan(value[comparison]):
        return False
    return not any(
        all(not np.isnan(value[s]) and value[s] >= d for s, d in rule.conditions())
        for rule in rules
    )


def _twin_name(records: list[Encoded]) -> str:
    initials = {(r.row.values[0] or "?")[0] for r in records}
    return next(name for name in TWIN_NAMES if name[0] not in initials)


def test_the_true_persons_query_is_answered_with_their_link(world: World) -> None:
    for person, records in world.people.items():
        mine = _links_of(world.store, records)
        found = _lookup(world.gated, encode_query(records[0].row.values))
        assert found, person
        assert found[0] in mine, person


def test_a_query_of_name_date_of_birth_and_sex_finds_the_person(world: World) -> None:
    answered = 0
    for records in world.people.values():
        values = records[0].row.values
        query = with_values(
            [None] * len(values),
            given_name=values[0],
            surname=values[2],
            date_of_birth=values[3],
            sex=values[4],
        )
        found = _lookup(world.gated, encode_query(query))
        answered += bool(found and found[0] in _links_of(world.store, records))
    assert answered >= 0.95 * len(world.people)


def test_a_twin_with_another_given_name_gets_no_answer(world: World) -> None:
    without_gate = 0
    for person, records in world.people.items():
        values = records[0].row.values
        twin = encode_query(with_values(values, given_name=_twin_name(records)))
        # the twin's given name disagrees outright with every record of the person
        assert all(_outright(world.gated, twin, r.clk, "given_name") for r in records), person
        assert _lookup(world.gated, twin) == [], person
        found = _lookup(world.open, twin)
        without_gate += bool(found and found[0] in _links_of(world.store, records))
    # without the gate nearly every twin would be given the sibling's link
    assert without_gate >= 0.9 * len(world.people)


def test_a_family_member_with_another_date_of_birth_gets_no_answer(world: World) -> None:
    tried = without_gate = 0
    for records in world.people.values():
        values = records[0].row.values
        year = int(values[3][:4]) if values[3] else 1970
        other = f"{year - 31 if year > 1960 else year + 31}-11-30"
        query = encode_query(with_values(values, date_of_birth=other))
        if not all(_outright(world.gated, query, r.clk, "date_of_birth") for r in records):
            continue  # shares enough digits to sit at an agreement level: not outright
        tried += 1
        assert _lookup(world.gated, query) == []
        without_gate += bool(_lookup(world.open, query))
    assert tried >= 0.5 * len(world.people)
    assert without_gate >= 0.5 * tried


def test_an_answer_never_comes_from_a_record_that_disagrees_outright(world: World) -> None:
    """Whatever the query, each answered link holds a record agreeing at some level on the
    given name and the date of birth (or missing them)."""
    store = world.store
    for records in list(world.people.values())[:30]:
        values = records[0].row.values
        for changes in (
            {"given_name": _twin_name(records)},
            {"middle_name": None, "street_address": None, "phone": None},
            {"surname": "zzyzx"},
        ):
            query = encode_query(with_values(values, **changes))
            for link in _lookup(world.gated, query):
                members = store.link_members([link])
                keys = {(m.agency_id, m.record_key) for m in members}
                clks = [
                    r.clk
                    for rs in world.people.values()
                    for r in rs
                    if (r.row.agency_id, r.row.local_id.encode()) in keys
                ]
                if not clks:
                    continue  # a link of people outside the sample
                assert any(
                    not _outright(world.gated, query, clk, "given_name")
                    and not _outright(world.gated, query, clk, "date_of_birth")
                    for clk in clks
                )


def test_lookup_requires_must_name_comparisons() -> None:
    assert GATED.probabilistic is not None
    with pytest.raises(ConfigError) as caught:
        dataclasses.replace(GATED.probabilistic, lookup_requires=("shoe_size",))
    assert [p.location for p in caught.value.problems] == ["linkage.probabilistic.lookup_requires"]
    assert "shoe_size" in caught.value.problems[0].reason
