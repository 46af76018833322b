"""The two PPRL methods of the quality benchmark, on encodings only.

* :func:`run_anchor`: the record-level CLK, a Dice threshold and anonlink's greedy solving
  (one record per agency per group), as the service links today.
* :func:`run_ours`: segmented encodings, blocking, a Fellegi-Sunter model fitted without
  labels, and the average-link clusterer (:mod:`linkage.probabilistic`).

Both see only CLK bytes (and which agency each record came from); the truth is read by the
evaluation alone.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmarks.quality.data import LinkageData
from benchmarks.quality.evaluate import Quality, evaluate_clusters
from linkage.encode import default_schema_text
from linkage.encode._segments import SegmentedEncoder, load_segmented_schema
from linkage.match import (
    CandidateEdges,
    dice_join,
    dice_self_join,
    greedy_solve,
    pack_clks,
    solve_components,
)
from linkage.probabilistic import (
    AverageLinkClusterer,
    BlockingRules,
    Comparison,
    FellegiSunterModel,
    ProbabilisticLinker,
    SegmentLayout,
    default_blocking,
    default_training_rules,
    fit_model,
    greedy_one_per_agency,
)

KEY_EPOCH = 1

#: (name, features, filter bits, bits per token, output bits)
SEGMENT_GROUPS: tuple[tuple[str, tuple[str, ...], int, int, int], ...] = (
    ("given_name", ("given_name",), 1024, 10, 128),
    ("middle_name", ("middle_name",), 1024, 10, 128),
    ("surname", ("surname",), 1024, 10, 128),
    ("date_of_birth", ("date_of_birth",), 1024, 10, 128),
    ("sex", ("sex",), 1024, 10, 64),
    ("phone", ("phone",), 1024, 10, 128),
    ("street", ("street_address", "address_line_2"), 1024, 10, 128),
    ("locality", ("suburb", "postcode", "state"), 1024, 10, 128),
)


def segmented_schema_document(
    *,
    taps: int | None = 10,
    salt_names: bool = False,
    plain_bits: int = 512,
    swap_names: bool = True,
) -> dict[str, Any]:
    """The shipped default (hardened) schema plus a segments block.

    ``taps=None`` gives unhardened segments (a plain Bloom filter of ``plain_bits`` each).
    """
    document: dict[str, Any] = json.loads(default_schema_text())
    fields = []
    for name, features, filter_bits, per_token, out_bits in SEGMENT_GROUPS:
        item: dict[str, Any] = {
            "name": name,
            "features": list(features),
            "filterBits": filter_bits if taps is not None else plain_bits,
            "bitsPerToken": per_token,
            "bits": out_bits if taps is not None else plain_bits,
        }
        if salt_names and name in ("given_name", "surname", "middle_name", "street"):
            item["salt"] = {"saltFrom": "date_of_birth", "start": 0, "end": 4}
        if swap_names and name in ("given_name", "surname"):
            item["keyGroup"] = "names"
        fields.append(item)
    block: dict[str, Any] = {"fields": fields}
    if taps is not None:
        block["diffusion"] = {"t": taps}
    document["segments"] = block
    return document


def encode(
    data: LinkageData, document: dict[str, Any], secret: bytes
) -> tuple[np.ndarray, SegmentLayout, float]:
    """Packed segmented records of every row, the layout, and the seconds it took."""
    started = time.perf_counter()
    encoder = SegmentedEncoder(load_segmented_schema(document), secret, key_epoch=KEY_EPOCH)
    clks = encoder.encode(list(data.rows))
    return pack_clks(clks), encoder.layout, time.perf_counter() - started


@dataclass
class MethodResult:
    method: str
    quality: Quality
    seconds: dict[str, float]
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "quality": self.quality.as_dict(),
            "seconds": self.seconds,
            **self.extra,
        }


def _groups_from_partition(
    partition: Sequence[Sequence[tuple[int, int]]], index_of: dict[tuple[int, int], int]
) -> list[list[int]]:
    return [[index_of[node] for node in group] for group in partition if len(group) > 1]


def run_anchor(
    data: LinkageData,
    packed: np.ndarray,
    layout: SegmentLayout,
    threshold: float,
    encode_seconds: float,
) -> MethodResult:
    """Record-level CLK, Dice >= threshold, greedy one record per agency (per record for
    a one-source deduplication)."""
    record = layout.record
    assert record is not None
    clks = np.ascontiguousarray(packed[:, record.start_word : record.stop_word])
    started = time.perf_counter()
    sources = np.asarray(data.sources)
    if data.mode == "link":
        left = np.nonzero(sources == 0)[0]
        right = np.nonzero(sources == 1)[0]
        pairs = dice_join(clks[left], clks[right], threshold)
        edges = CandidateEdges(
            pairs.scores,
            np.zeros(len(pairs), np.int64),
            left[pairs.left],
            np.ones(len(pairs), np.int64),
            right[pairs.right],
        )
    else:
        pairs = dice_self_join(clks, threshold)
        edges = CandidateEdges(
            pairs.scores, sources[pairs.left], pairs.left, sources[pairs.right], pairs.right
        )
    join_seconds = time.perf_counter() - started
    started = time.perf_counter()
    if len(data.source_names) == 1:
        # one source: every record its own "agency", so greedy may group any records
        solved = greedy_solve(
            CandidateEdges(
                edges.scores,
                edges.record_left,
                edges.record_left,
                edges.record_right,
                edges.record_right,
            )
        )
        groups = [[r for _d, r in group] for group in solved]
    else:
        solved = greedy_one_per_agency(edges.sorted())
        groups = [[r for _d, r in group] for group in solved]
    solve_seconds = time.perf_counter() - started
    return MethodResult(
        f"record CLK, Dice >= {threshold}, greedy",
        evaluate_clusters(groups, data.entities, data.sources),
        {"encode": encode_seconds, "join": join_seconds, "solve": solve_seconds},
        {"edges": len(edges)},
    )


def run_ours(
    data: LinkageData,
    packed: np.ndarray,
    layout: SegmentLayout,
    comparisons: Sequence[Comparison],
    encode_seconds: float,
    *,
    blocking: BlockingRules | None = None,
    edge_threshold: float = 0.5,
    clusterer: AverageLinkClusterer | None = None,
    model: FellegiSunterModel | None = None,
) -> MethodResult:
    blocking = blocking or default_blocking()
    clusterer = clusterer or AverageLinkClusterer(0.5, 0.5)
    sources = np.asarray(data.sources)
    seconds = {"encode": encode_seconds}
    started = time.perf_counter()
    if data.mode == "link":
        left_rows = np.nonzero(sources == 0)[0]
        right_rows = np.nonzero(sources == 1)[0]
        left, right = packed[left_rows], packed[right_rows]
        if model is None:
            model = fit_model(
                layout, comparisons, blocking, left, right, training_rules=default_training_rules()
            )
    else:
        if model is None:
            model = fit_model(
                layout, comparisons, blocking, packed, training_rules=default_training_rules()
            )
    seconds["fit"] = time.perf_counter() - started
    linker = ProbabilisticLinker(layout, model, blocking, edge_threshold)
    started = time.perf_counter()
    if data.mode == "link":
        li, ri = linker.candidate_pairs(left, right)
        probabilities = linker.score(left, right, li, ri)
        keep = probabilities >= edge_threshold
        a, b = left_rows[li[keep]], right_rows[ri[keep]]
    else:
        li, ri = linker.candidate_pairs_within(packed)
        probabilities = linker.score(packed, packed, li, ri)
        keep = probabilities >= edge_threshold
        a, b = li[keep], ri[keep]
    candidates = len(li)
    seconds["block_and_score"] = time.perf_counter() - started
    started = time.perf_counter()
    edges = CandidateEdges(probabilities[keep], sources[a], a, sources[b], b)
    nodes = sorted(
        {
            (int(s), int(r))
            for s, r in zip(sources[np.concatenate([a, b])], np.concatenate([a, b]), strict=True)
        }
    )
    partition = solve_components(nodes, edges, clusterer)
    groups = [[r for _d, r in group] for group in partition if len(group) > 1]
    seconds["cluster"] = time.perf_counter() - started
    return MethodResult(
        "segments + Fellegi-Sunter (EM) + average-link clusters",
        evaluate_clusters(groups, data.entities, data.sources),
        seconds,
        {"candidates": candidates, "edges": int(keep.sum()), "model": model.to_dict()},
    )


def new_secret() -> bytes:
    return secrets.token_bytes(32)
