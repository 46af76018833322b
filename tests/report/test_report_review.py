"""Clerical review (sampling near the threshold, labels, weighted estimates) and
ground-truth files, without a store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from linkage.errors import InvalidInputError
from linkage.report import (
    IndexSnapshot,
    Label,
    ReviewLedger,
    ReviewPair,
    band_candidates,
    clerical_evidence,
    draw_review_sample,
    load_ledger,
    parse_label_rows,
    parse_truth_rows,
    read_label_csv,
    read_truth_csv,
    save_ledger,
)
from tests.report.synthetic import synthetic_records

pytestmark = pytest.mark.unit

AGENCY = {n: ("police" if n % 2 else "er") for n in range(1000)}


def _candidates(
    rng: np.random.Generator, n: int = 600
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = rng.integers(0, 1000, n)
    b = rng.integers(0, 1000, n)
    keep = a != b
    a, b = np.minimum(a, b)[keep], np.maximum(a, b)[keep]
    _, first = np.unique(a * 1000 + b, return_index=True)
    a, b = a[first], b[first]
    return a, b, rng.uniform(0.6, 1.0, a.shape[0])


def _draw(
    ledger: ReviewLedger,
    candidates: tuple[np.ndarray, np.ndarray, np.ndarray],
    size: int,
    seed: int = 0,
) -> tuple[ReviewLedger, list[ReviewPair]]:
    return draw_review_sample(
        ledger, candidates, AGENCY, threshold=0.8, band=0.05, size=size, method="exact",
        rng=np.random.default_rng(seed), now_us=1,
    )  # fmt: skip


def test_a_sample_is_cross_agency_in_band_and_split_across_the_threshold() -> None:
    candidates = _candidates(np.random.default_rng(1))
    ledger, pairs = _draw(ReviewLedger(), candidates, 40)
    assert len(pairs) == 40
    assert all(AGENCY[p.node_a] != AGENCY[p.node_b] for p in pairs)
    assert all(0.75 <= p.score <= 0.85 for p in pairs)
    above = sum(p.score >= 0.8 for p in pairs)
    assert above == 20
    assert len({p.pair_id for p in pairs}) == 40
    assert [p.pair_id for p in pairs] == [f"S1-{i:04d}" for i in range(1, 41)]
    # Pair IDs follow a shuffled order: neither score nor side can be read from them.
    sides = [p.score >= 0.8 for p in pairs]
    assert sides != sorted(sides)
    assert sides != sorted(sides, reverse=True)
    sample = ledger.samples[0]
    a, b, s = candidates
    cross = np.array([AGENCY[x] != AGENCY[y] for x, y in zip(a, b, strict=True)])
    assert sample.population_above == int((cross & (s >= 0.8) & (s <= 0.85)).sum())
    assert sample.population_below == int((cross & (s >= 0.75) & (s < 0.8)).sum())


def test_later_samples_leave_out_pairs_sampled_before() -> None:
    candidates = _candidates(np.random.default_rng(2))
    ledger, first = _draw(ReviewLedger(), candidates, 30)
    ledger, second = _draw(ledger, candidates, 30, seed=1)
    seen = {(p.node_a, p.node_b) for p in first}
    assert not seen & {(p.node_a, p.node_b) for p in second}
    assert second[0].pair_id.startswith("S2-")
    assert len(ledger.pairs) == 60


def test_the_other_side_fills_in_when_one_runs_short() -> None:
    a = np.array([1, 3, 5, 7, 9])
    b = np.array([2, 4, 6, 8, 10])
    s = np.array([0.81, 0.76, 0.77, 0.78, 0.79])
    _, pairs = _draw(ReviewLedger(), (a, b, s), 4)
    assert sum(p.score >= 0.8 for p in pairs) == 1
    assert len(pairs) == 4


def test_the_ledger_round_trips_through_its_file(tmp_path: Path) -> None:
    ledger, pairs = _draw(ReviewLedger(), _candidates(np.random.default_rng(3)), 10)
    ledger = ledger.with_labels({pairs[0].pair_id: Label.MATCH}, 123)
    path = tmp_path / "clerical-review.json"
    save_ledger(path, ledger)
    assert path.stat().st_mode & 0o777 == 0o600
    loaded = load_ledger(path)
    assert loaded == ledger
    assert load_ledger(tmp_path / "none.json") == ReviewLedger()
    path.write_text('{"format": "something else"}')
    with pytest.raises(InvalidInputError, match="not a linkage-clerical-review/1 ledger"):
        load_ledger(path)
    path.write_text('{"format": "linkage-clerical-review/1", "samples": [{"x": 1}]}')
    with pytest.raises(InvalidInputError, match="damaged"):
        load_ledger(path)


def test_labels_are_parsed_all_or_nothing_with_every_problem_named(tmp_path: Path) -> None:
    ledger, pairs = _draw(ReviewLedger(), _candidates(np.random.default_rng(4)), 4)
    good = parse_label_rows(
        [
            {"pair_id": pairs[0].pair_id, "label": "Match"},
            {"pair_id": pairs[1].pair_id, "label": " non-match "},
            {"pair_id": pairs[2].pair_id, "label": "unsure", "pointer_token_a": "ignored"},
        ],
        ledger,
        "labels.csv",
    )
    assert good == {
        pairs[0].pair_id: Label.MATCH,
        pairs[1].pair_id: Label.NON_MATCH,
        pairs[2].pair_id: Label.UNSURE,
    }
    with pytest.raises(InvalidInputError) as caught:
        parse_label_rows(
            [
                {"pair_id": pairs[0].pair_id, "label": "yes"},
                {"pair_id": "S9-0001", "label": "match"},
                {"pair_id": "", "label": "match"},
                {"pair_id": pairs[1].pair_id, "label": "match"},
                {"pair_id": pairs[1].pair_id, "label": "match"},
            ],
            ledger,
            "labels.csv",
        )
    assert [(p.location, p.reason) for p in caught.value.problems] == [
        ("labels.csv:2.label", "must be match, non-match or unsure"),
        ("labels.csv:3.pair_id", "was never sampled"),
        ("labels.csv:4.pair_id", "is empty"),
        ("labels.csv:6.pair_id", "appears twice"),
    ]
    path = tmp_path / "labels.csv"
    path.write_text("pair,verdict\nx,match\n")
    with pytest.raises(InvalidInputError, match="needs the columns pair_id, label"):
        read_label_csv(path, ledger)


def test_clerical_estimates_weight_each_side_by_its_population() -> None:
    candidates = _candidates(np.random.default_rng(5), 3000)
    ledger, pairs = _draw(ReviewLedger(), candidates, 40)
    assert clerical_evidence(ledger, 0.8) is None  # nothing labelled yet
    # Reviewers: every pair at or above 0.8 is a match, one in four below is.
    labels = {
        p.pair_id: Label.MATCH if p.score >= 0.8 or i % 4 == 0 else Label.NON_MATCH
        for i, p in enumerate(sorted(pairs, key=lambda p: p.score))
    }
    labels[pairs[0].pair_id] = Label.UNSURE
    evidence = clerical_evidence(ledger.with_labels(labels, 5), 0.8)
    assert evidence is not None
    assert evidence.source == "clerical review"
    sample = ledger.samples[0]
    decided = [p for p in pairs if labels[p.pair_id] is not Label.UNSURE]
    above = [p for p in decided if p.score >= 0.8]
    below = [p for p in decided if p.score < 0.8]
    w_above = sample.population_above / len(above)
    w_below = sample.population_below / len(below)
    matches_below = sum(labels[p.pair_id] is Label.MATCH for p in below)
    cm = evidence.chosen
    assert cm.threshold == pytest.approx(0.8)
    assert cm.true_positive == pytest.approx(len(above) * w_above)
    assert cm.false_positive == pytest.approx(0.0)
    assert cm.false_negative == pytest.approx(matches_below * w_below)
    assert cm.true_negative == pytest.approx((len(below) - matches_below) * w_below)
    assert evidence.sweep.thresholds[0] == pytest.approx(0.75)
    assert evidence.sweep.thresholds[-1] == pytest.approx(0.85)
    assert any("unsure" in note for note in evidence.notes)


def test_truth_rows_map_hex_record_keys_to_entities(tmp_path: Path) -> None:
    truth = parse_truth_rows(
        [
            {"agency_id": "er", "record_key": "00ff", "entity_id": "p1"},
            {"agency_id": "police", "record_key": "ABCD", "entity_id": "p1"},
            {"agency_id": "police", "record_key": "0102", "entity_id": "p2"},
        ],
        "truth.csv",
    )
    assert len(truth) == 3
    assert truth.entity_count == 2
    assert truth.entities[("er", b"\x00\xff")] == truth.entities[("police", b"\xab\xcd")]
    with pytest.raises(InvalidInputError) as caught:
        parse_truth_rows(
            [
                {"agency_id": "er", "record_key": "zz", "entity_id": "p1"},
                {"agency_id": "er", "record_key": "", "entity_id": "p1"},
                {"agency_id": "er", "record_key": "00", "entity_id": "p1"},
                {"agency_id": "er", "record_key": "00", "entity_id": "p2"},
            ],
            "truth.csv",
        )
    assert [p.location for p in caught.value.problems] == [
        "truth.csv:2.record_key",
        "truth.csv:3",
        "truth.csv:5.record_key",
    ]
    path = tmp_path / "truth.csv"
    path.write_text("agency_id,record_key,entity_id\ner,0a0b,7\n")
    assert read_truth_csv(path).entities == {("er", b"\x0a\x0b"): 0}
    path.write_text("agency_id,record_key,entity_id\n")
    with pytest.raises(InvalidInputError, match="no rows"):
        read_truth_csv(path)


def test_blocked_band_candidates_are_exact_pairs_and_find_most_of_them() -> None:
    """Past the comparison budget the band's pairs come from LSH blocking: a subset of
    the exact join's pairs with the same scores, and most of them."""
    records = synthetic_records(people=600, seed=21)
    n = records.agency.shape[0]
    snapshot = IndexSnapshot(
        agencies=records.agencies,
        node_ids=np.arange(100, 100 + n, dtype=np.int64),
        agency=records.agency,
        packed=records.packed,
        link=np.full(n, -1, dtype=np.int64),
    )
    (ea, eb, es), exact_method = band_candidates(snapshot, 0.7, 0.9, 10**12)
    (ba, bb, bs), blocked_method = band_candidates(snapshot, 0.7, 0.9, 1)
    assert (exact_method, blocked_method) == ("exact", "blocked")
    assert es.size > 50
    assert np.all((es >= 0.7) & (es <= 0.9))
    exact = {(a, b): s for a, b, s in zip(ea.tolist(), eb.tolist(), es.tolist(), strict=True)}
    blocked = {(a, b): s for a, b, s in zip(ba.tolist(), bb.tolist(), bs.tolist(), strict=True)}
    assert blocked.keys() <= exact.keys()
    assert all(exact[pair] == score for pair, score in blocked.items())
    assert len(blocked) >= 0.9 * len(exact)
    owner = {100 + i: int(records.agency[i]) for i in range(n)}
    assert all(owner[a] != owner[b] for a, b in exact)
