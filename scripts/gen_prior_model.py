"""Generate the matcher's starting Fellegi-Sunter models (``linkage/service/prior-model-*.json``).

The matcher scores segmented CLKs with a Fellegi-Sunter model. It fits one on its own
records at every rebuild (no PII, no labels); until the first rebuild it needs a model to
start from. This script fits that starting model on synthetic multi-agency data
(:func:`linkage.synth.generate_scenario`, fixed seed), encoded with the shipped segmented
schema under a throwaway random secret: m and u probabilities describe how segments of
the same person and of different people agree, which depends on the schema and on how
messy data is, not on the key. ``hardened`` is the shipped default (diffused segments);
``plain`` the same schema with plain Bloom-filter segments. Both carry the derived key
segments of the default schema; the ``-nokeys`` files are the earlier models for layouts
without them, kept for matchers configured with such a schema (this script no longer
writes them).

    .venv/bin/python scripts/gen_prior_model.py            # rewrites both files

The blocking is what the matcher plans for data of this size (``auto``), and the fit is
the matcher's own (flat prior on m: this *is* the prior).

The secret is random, so the fitted numbers vary slightly from run to run (EM on
different hash collisions); the files record one run.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.scenario_rows import mapped_rows  # noqa: E402
from linkage.encode import default_schema_text  # noqa: E402
from linkage.encode._segments import (  # noqa: E402
    DEFAULT_SEGMENTS,
    SegmentedEncoder,
    load_segmented_schema,
)
from linkage.match import pack_clks  # noqa: E402
from linkage.probabilistic import (  # noqa: E402
    default_blocking_ladder,
    default_comparisons,
    default_training_rules,
    fit_model,
    plan_blocking,
)

OUT = ROOT / "linkage" / "service"
PEOPLE = 8000
SEED = 4242


def _document(hardened: bool) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(default_schema_text())
    segments = json.loads(json.dumps(DEFAULT_SEGMENTS))
    if not hardened:
        del segments["diffusion"]
        for item in segments["fields"]:
            if item.get("kind", "bloom") == "bloom":
                item["filterBits"] = item["bits"] = 512
    document["segments"] = segments
    return document


def fitted(hardened: bool, rows: list[list[str | None]], secret: bytes) -> str:
    encoder = SegmentedEncoder(load_segmented_schema(_document(hardened)), secret, key_epoch=1)
    packed = pack_clks(encoder.encode(rows))
    ladder, always = default_blocking_ladder(hardened)
    plan = plan_blocking(ladder, packed, encoder.layout, always=always)
    model = fit_model(
        encoder.layout,
        default_comparisons(hardened, encoder.layout),
        plan.rules,
        packed,
        training_rules=default_training_rules(),
    )
    return model.to_json() + "\n"


def main() -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    names = {True: "prior-model-hardened.json", False: "prior-model-plain.json"}
    secret = secrets.token_bytes(32)
    rows = [list(r.values) for r in mapped_rows(PEOPLE, SEED)]
    for hardened, name in names.items():
        text = fitted(hardened, rows, secret)
        (OUT / name).write_text(text, encoding="utf-8")
        print(f"wrote {OUT / name} ({len(rows)} records)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
