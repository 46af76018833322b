"""The narrated demo: every step of :class:`DemoRun` in order, with what it shows printed
as it goes, and the linkage quality table at the end."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from linkage.demo._run import DemoRun
from linkage.demo._scenario import (
    GATEWAY_AGENCY,
    MHC,
    PROTAGONIST,
    SUD,
    UNKNOWN_QUERY,
    PairQuality,
)
from linkage.errors import LinkageError

__all__ = ["run_demo"]


def _describe(results: Sequence[Mapping[str, Any]]) -> str:
    if not results:
        return "No information available"
    return "; ".join(
        f"Known to: {r['display_name']}. Call: {r['instructions']} — {r['phone_number']}"
        for r in results
    )


def _first_line(text: str, prefix: str) -> str:
    for line in text.splitlines():
        if line.startswith(prefix):
            return line
    return text.strip().splitlines()[-1] if text.strip() else ""


def run_demo(
    work_dir: Path,
    *,
    people: int = 300,
    threshold: float | None = None,
    linkage: str = "probabilistic",
    echo: Any = click.echo,
) -> int:
    """Run the whole scenario in ``work_dir``; returns 0 on success."""
    from linkage.synth import DEFAULT_AGENCIES

    started = time.perf_counter()
    demo = DemoRun(
        work_dir=work_dir, people=people, threshold=threshold, linkage=linkage, echo=echo
    )
    try:
        echo(f"== co-responder linkage demo; work folder {work_dir}")
        demo.prepare()
        counts = ", ".join(f"{e.agency.agency_id} {len(e.rows)}" for e in demo.scenario.exports)
        echo(
            f"[1] demo PKI and a fresh linkage secret; synthetic exports ({counts} rows) with "
            "nicknames, typos, swapped day/month, moves, missing fields, twins and duplicates"
        )
        demo.start_matcher()
        probability = (
            "\"auto\" (0.5 until the matcher's own fit, then the model's suggestion)"
            if demo.threshold is None
            else demo.threshold
        )
        how = (
            f"per-field segments, Fellegi-Sunter match probability >= {probability}, "
            "average-link clusters"
            if demo.linkage == "probabilistic"
            else f"record-level Dice >= {demo.threshold}, greedy"
        )
        echo(f"[2] matcher serving on {demo.matcher_address} (SQLite, mutual TLS; {how})")
        demo.enrol_agencies()
        echo(
            f"[3] operator enrolled {len(DEFAULT_AGENCIES)} agencies (linkage-admin agency create)"
        )
        echo("[4] each agency runs agency-client init and upload; links form incrementally")
        for agency in DEFAULT_AGENCIES:
            demo.init_agency(agency.agency_id)
            result = demo.upload(agency.agency_id)
            index = demo.index_status()
            echo(f"    {agency.agency_id:13s} {_first_line(result.stdout, 'sent')}")
            echo(f"    {'':13s} index now: {index['records']} records, {index['links']} links")
        path, moved, removed, added = demo.changed_police_export()
        result = demo.upload(GATEWAY_AGENCY, path)
        echo(
            f"[5] delta upload of the police's next export ({moved} moved, {removed} removed, "
            f"{added} new):"
        )
        echo(f"    {_first_line(result.stdout, 'planned')}")
        echo(f"    {_first_line(result.stdout, 'sent')}")
        demo.start_gateway()
        echo(
            f"[6] police responder gateway on http://127.0.0.1:{demo.gateway_port}/ "
            f"(looking up {PROTAGONIST.given_name} {PROTAGONIST.surname}; the page's access "
            f"code is in {demo.agency_dir(GATEWAY_AGENCY) / 'gateway.token'})"
        )
        first = demo.lookup()
        echo(f"    {_describe(first['results'])}")
        echo("    (the substance-use programme's record is linked but has no consent: hidden)")
        mhc = [r for r in first["results"] if r["agency"] == MHC]
        if mhc:
            deref = demo.agency_client(MHC, "deref", str(mhc[0]["pointer_token"]), "--id-only")
            echo(f"    the centre opens the pointer it was shown: record {deref.stdout.strip()}")
        expires = (datetime.now(UTC) + timedelta(days=90)).strftime("%Y-%m-%d")
        sud_id = demo.local_id(SUD)
        demo.agency_client(
            SUD, "consent", "set", sud_id, "--purpose", "crisis_response", "--expires", expires
        )
        second = demo.lookup()
        echo(
            f"[7] after a consent grant (agency-client consent set): {_describe(second['results'])}"
        )
        demo.agency_client(SUD, "withdraw", sud_id)
        third = demo.lookup()
        echo(f"[8] after the programme withdraws the record: {_describe(third['results'])}")
        nobody = demo.lookup(UNKNOWN_QUERY)
        echo(f"    someone unknown: {_describe(nobody['results'])}")
        echo(f"[9] linkage quality against the synthetic truth ({how}), pairs across agencies:")
        echo(
            f"    {'agency pair':32s} {'true':>5s} {'found':>6s} {'precision':>9s} "
            f"{'recall':>7s} {'F1':>6s}"
        )
        total_true = total_found = total_correct = 0
        for pair in demo.quality():
            total_true += pair.true_pairs
            total_found += pair.found_pairs
            total_correct += pair.correct_pairs
            echo(
                f"    {pair.agency_a + ' / ' + pair.agency_b:32s} {pair.true_pairs:5d} "
                f"{pair.found_pairs:6d} {pair.precision:9.3f} {pair.recall:7.3f} {pair.f1:6.3f}"
            )
        overall = PairQuality("all", "all", total_true, total_found, total_correct)
        echo(
            f"    {'all pairs':32s} {total_true:5d} {total_found:6d} {overall.precision:9.3f} "
            f"{overall.recall:7.3f} {overall.f1:6.3f}"
        )
    except LinkageError as exc:
        echo(f"demo failed: {exc}", err=True)
        return 1
    finally:
        demo.stop()
    echo(
        f"== done in {time.perf_counter() - started:.1f} s; matcher and gateway stopped "
        f"(logs in {demo.logs_dir})"
    )
    return 0
