"""Sending pending batches from a command, with a progress bar and a one-line report."""

from __future__ import annotations

import click

from agency_client._cli_options import progress_bar
from agency_client._sending import SendReport, send_pending
from agency_client._session import AgencySession
from agency_client._state import UploadState

__all__ = ["echo_send_report", "send_all_pending"]


def send_all_pending(session: AgencySession, state: UploadState, what: str) -> SendReport:
    """Send every pending batch (earlier interrupted ones first); report what was acknowledged."""
    batches, mutations = state.pending_summary()
    if not batches:
        return SendReport()
    with progress_bar(what, total=mutations, unit="record") as bar, session.matcher() as client:
        return send_pending(state, client, progress=bar.update)


def echo_send_report(report: SendReport) -> None:
    if not report.batches:
        click.echo("sent nothing: the matcher is up to date")
        return
    click.echo(
        f"sent {report.batches} batch{'es' if report.batches != 1 else ''}"
        f" ({report.replayed} replayed): inserted {report.inserted}, updated {report.updated}, "
        f"unchanged {report.unchanged}, withdrawn {report.withdrawn}, "
        f"consent changed {report.consent_updated}; linked {report.linked}"
        + (f"; {report.retries} retries" if report.retries else "")
    )
