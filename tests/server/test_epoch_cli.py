"""``linkage-admin epoch begin|status|finish`` on the store of a real matcher (gRPC, mutual
TLS, Dice mode) while it serves: batches and lookups of the next epoch between begin and
finish, the same link IDs in both epochs, a finish refused while an agency lags, and
the old epoch refused after it."""

from __future__ import annotations

import json

import grpc
import numpy as np
import pytest
from click.testing import CliRunner

from linkage.admin.cli import main
from linkage.v1 import lookup_pb2
from tests.server.conftest import Matcher
from tests.server.protos import query, upsert, write
from tests.service.factory import person, variant

pytestmark = pytest.mark.integration


def _epoch(matcher: Matcher, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, ["epoch", *args, "--config", str(matcher.root / "server.toml")]
    )
    return result.exit_code, result.output


def _in_epoch(request: lookup_pb2.LookupRequest, epoch: int) -> lookup_pb2.LookupRequest:
    request.key_epoch = epoch
    return request


def test_a_rotation_through_the_admin_commands_keeps_link_ids(matcher: Matcher) -> None:
    rng = np.random.default_rng(5)
    gina, hugo = person(rng), person(rng)
    # epoch 2's CLKs: unrelated to epoch 1's (another key), the same people
    gina_2, hugo_2 = person(rng), person(rng)
    police, er = matcher.ingest("police"), matcher.ingest("er")
    police.WriteBatch(write("police", "p1", upsert("g", gina), upsert("h", hugo)))
    er.WriteBatch(write("er", "e1", upsert("g", variant(rng, gina))))
    looked = matcher.lookup("valley-mhc")
    (gina_link,) = [link.link for link in looked.Lookup(query(gina)).links]

    code, output = _epoch(matcher, "status")
    assert code == 0, output
    assert json.loads(output)["next_epoch"] is None
    code, output = _epoch(matcher, "finish")
    assert code == 2
    assert "no rotation is in progress" in output
    code, output = _epoch(matcher, "begin", "--to", "1")
    assert code == 2
    assert "--to: must be above the key epoch in force (1)" in output
    code, output = _epoch(matcher, "begin", "--to", "2")
    assert code == 0, output

    second = write("police", "p2", upsert("g", gina_2), upsert("h", hugo_2))
    second.key_epoch = 2
    police.WriteBatch(second)
    status = json.loads(_epoch(matcher, "status")[1])
    assert status["current_epoch"] == 1
    assert status["next_epoch"] == 2
    assert status["agencies"]["police"] == {
        "records": 2,
        "on_next_epoch": 2,
        "only_on_current_epoch": 0,
    }
    assert status["agencies"]["er"]["only_on_current_epoch"] == 1
    assert not status["ready_to_finish"]
    # both epochs answer, with the same link
    assert [link.link for link in looked.Lookup(query(gina)).links] == [gina_link]
    assert [link.link for link in looked.Lookup(_in_epoch(query(gina_2), 2)).links] == [gina_link]
    code, output = _epoch(matcher, "finish")
    assert code == 2
    assert "agencies/er: 1 of its 1 records are only on key epoch 1" in output

    third = write("er", "e2", upsert("g", variant(rng, gina_2)))
    third.key_epoch = 2
    er.WriteBatch(third)
    assert json.loads(_epoch(matcher, "status")[1])["ready_to_finish"]
    code, output = _epoch(matcher, "finish")
    assert code == 0, output
    assert "key epoch 2 is in force; 3 records moved" in output

    assert [link.link for link in looked.Lookup(_in_epoch(query(gina_2), 2)).links] == [gina_link]
    with pytest.raises(grpc.RpcError) as refused:
        looked.Lookup(query(gina))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "key epoch 2" in (refused.value.details() or "")
    status = json.loads(_epoch(matcher, "status")[1])
    assert (status["current_epoch"], status["next_epoch"]) == (2, None)
    # the audit chain holds the begin and the finish and still verifies
    result = CliRunner().invoke(
        main, ["audit", "verify", "--config", str(matcher.root / "server.toml")]
    )
    assert result.exit_code == 0, result.output


def test_a_rotation_can_be_abandoned(matcher: Matcher) -> None:
    code, output = _epoch(matcher, "abort")
    assert code == 2
    assert "no rotation is in progress" in output
    assert _epoch(matcher, "begin", "--to", "3")[0] == 0
    code, output = _epoch(matcher, "abort")
    assert code == 0, output
    assert "rotation abandoned" in output
    status = json.loads(_epoch(matcher, "status")[1])
    assert (status["current_epoch"], status["next_epoch"]) == (1, None)


def test_records_dropped_by_the_finish_leave_their_links_like_withdrawn_ones(
    matcher: Matcher,
) -> None:
    """``finish --drop-old-only``: er's contact, only on epoch 1, held gina's police record
    in its link; er's other record of gina (less similar, so out of that link: one record
    per agency) joins it once the contact is dropped, as after er's own withdrawal."""
    rng = np.random.default_rng(8)
    gina = person(rng)
    contact, other = variant(rng, gina, flips=10), variant(rng, gina, flips=60)
    gina_2 = person(rng)
    other_2 = variant(rng, gina_2, flips=60)
    police, er = matcher.ingest("police"), matcher.ingest("er")
    police.WriteBatch(write("police", "p1", upsert("g", gina)))
    er.WriteBatch(write("er", "e1", upsert("contact", contact)))
    er.WriteBatch(write("er", "e2", upsert("g", other)))
    looked = matcher.lookup("valley-mhc")
    (before,) = [
        link
        for link in looked.Lookup(query(gina)).links
        if any(r.agency == "agencies/police" for r in link.records)
    ]
    assert sorted(r.pointer_token for r in before.records) == [b"ptr-contact", b"ptr-g"]
    assert _epoch(matcher, "begin", "--to", "2")[0] == 0
    for stub, agency_id, key, bits in ((police, "police", "g", gina_2), (er, "er", "g", other_2)):
        batch = write(agency_id, f"{agency_id}-2", upsert(key, bits))
        batch.key_epoch = 2
        stub.WriteBatch(batch)
    code, output = _epoch(matcher, "finish", "--drop-old-only", "er")
    assert code == 0, output
    assert "dropped 1 records of er" in output
    (after,) = looked.Lookup(_in_epoch(query(gina_2), 2)).links
    assert after.link == before.link
    # er's other record of gina, in gina's link now (not a link of its own)
    assert sorted((r.agency, r.pointer_token) for r in after.records) == [
        ("agencies/er", b"ptr-g"),
        ("agencies/police", b"ptr-g"),
    ]
