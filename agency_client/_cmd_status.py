"""``agency-client status``: what the matcher holds for this agency, and what is pending here."""

from __future__ import annotations

import json
from pathlib import Path

import click

from agency_client._audit_heads import kept_audit_heads, remember_audit_head
from agency_client._cli_options import config_option, load_session
from linkage.audit_heads import format_audit_head

__all__ = ["audit_heads_command", "status_command"]


@click.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--local-only", is_flag=True, help="Do not ask the matcher.")
def status_command(config_path: Path, as_json: bool, local_only: bool) -> None:
    """Show the matcher's counts for this agency and the local upload state."""
    session = load_session(config_path)
    with session.state() as state:
        batches, mutations = state.pending_summary()
        local = {
            "records_acknowledged": state.record_count(),
            "pending_batches": batches,
            "pending_mutations": mutations,
            "last_export": state.get_meta("last_export"),
            "last_plan_time": state.get_meta("last_plan_time"),
        }
    matcher: dict[str, object] | None = None
    if not local_only:
        with session.matcher() as client:
            status = client.agency_status(session.config.parent)
        with session.state() as state:
            warning = remember_audit_head(state, status.audit_head)
        if warning is not None:
            click.echo(f"warning: {warning}", err=True)
        coverage = status.linked_record_count / status.record_count if status.record_count else 0.0
        matcher = {
            "agency": status.name,
            "record_count": status.record_count,
            "linked_record_count": status.linked_record_count,
            "link_coverage": round(coverage, 4),
            "disclosable_record_count": status.disclosable_record_count,
            "batch_count": status.batch_count,
            "audit_head_sequence": status.audit_head.sequence,
            "last_batch": status.last_batch,
            "last_batch_commit_time": (
                status.last_batch_commit_time.ToJsonString()
                if status.HasField("last_batch_commit_time")
                else None
            ),
        }
    if as_json:
        click.echo(json.dumps({"local": local, "matcher": matcher}, sort_keys=True))
        return
    click.echo(f"agency {session.agency_id} at {session.config.matcher_address}")
    if matcher is not None:
        click.echo(
            f"  matcher: {matcher['record_count']} records, {matcher['linked_record_count']} "
            f"linked ({float(matcher['link_coverage']):.1%} coverage), "  # type: ignore[arg-type]
            f"{matcher['disclosable_record_count']} disclosable; {matcher['batch_count']} "
            f"batches, last {matcher['last_batch'] or '-'} at "
            f"{matcher['last_batch_commit_time'] or '-'}"
        )
    click.echo(
        f"  local: {local['records_acknowledged']} records acknowledged; "
        f"{batches} batches ({mutations} changes) pending"
        + ("; run agency-client upload to send them" if batches else "")
    )
    if local["last_export"]:
        click.echo(f"  last export: {local['last_export']} (planned {local['last_plan_time']})")


@click.command("audit-heads")
@config_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write them to this file (default: print them).",
)
def audit_heads_command(config_path: Path, out: Path | None) -> None:
    """The matcher's audit heads this client has seen (each status records one), as a
    trusted-heads file for linkage-admin audit verify --trusted-head."""
    session = load_session(config_path)
    with session.state() as state:
        heads = kept_audit_heads(state)
    if not heads:
        raise click.ClickException("no audit head seen yet; run agency-client status first")
    text = "".join(format_audit_head(h) + "\n" for h in heads)
    if out is None:
        click.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    click.echo(f"wrote {len(heads)} audit heads to {out} (the latest at {heads[-1].sequence})")
