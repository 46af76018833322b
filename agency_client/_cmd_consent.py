"""``agency-client consent set|revoke|list``: per-record consent, single or in bulk.

Bulk CSV (``consent set --from-csv FILE``), one row per record; only ``record_id``
is required::

    record_id,disclose,purposes,recipient_agencies,expires,revoked,allow_linkage
    VMHC-10023,yes,crisis_response;care_coordination,,2027-01-31,no,yes
    VMHC-10077,,,,,yes,

``disclose`` (default yes) lets responders see the pointer; ``purposes`` and
``recipient_agencies`` are separated by ``;`` (no agencies: any agency's
responders); ``revoked = yes`` revokes the record's current consent.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Final

import click

from agency_client._cli_options import config_option, load_session
from agency_client._cli_send import echo_send_report, send_all_pending
from agency_client._client_config import parse_consent_expiry
from agency_client._cmd_withdraw import read_id_file
from agency_client._csvlines import bounded_lines
from agency_client._export import iter_local_ids
from agency_client._matcher import consent_from_proto
from agency_client._withdraw_consent_plans import ConsentPlan, plan_consent
from linkage.consent import Consent, Purpose
from linkage.errors import InvalidInputError, Problem
from linkage.identity import Role

__all__ = ["consent_group", "describe_consent", "read_consent_csv"]

_YES: Final = {"yes", "y", "true", "1"}
_NO: Final = {"no", "n", "false", "0", ""}


def describe_consent(consent: Consent) -> str:
    """A one-line summary, e.g. ``disclose to responder for crisis_response until 2027-01-31``."""
    if consent.revoked:
        return "revoked"
    if not consent.allow_linkage:
        return "no linkage"
    if not consent.grants_disclosure:
        return "linked, never disclosed"
    roles = ",".join(sorted(r.value for r in consent.recipient_roles))
    who = roles + (
        f" of {','.join(sorted(consent.recipient_agencies))}" if consent.recipient_agencies else ""
    )
    until = consent.expires_at.strftime("%Y-%m-%d") if consent.expires_at else "never"
    purposes = ",".join(sorted(p.value for p in consent.purposes))
    return f"disclose to {who} for {purposes} until {until}"


def _flag(value: str, where: str, default: bool) -> bool:
    text = value.strip().lower()
    if not text:
        return default
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise InvalidInputError("invalid consent file", problems=[Problem(where, "must be yes or no")])


def _build(
    *,
    disclose: bool,
    purposes: list[str],
    agencies: list[str],
    roles: list[str],
    expires: str | None,
    allow_linkage: bool,
    where: str,
) -> Consent:
    if not disclose:
        return Consent.no_disclosure(allow_linkage=allow_linkage)
    if not expires:
        raise InvalidInputError(
            "a disclosing consent needs an expiry",
            problems=[Problem(f"{where}expires", "required (YYYY-MM-DD)")],
        )
    try:
        return Consent(
            allow_linkage=allow_linkage,
            recipient_roles=frozenset(Role(r) for r in (roles or ["responder"])),
            recipient_agencies=frozenset(agencies),
            purposes=frozenset(Purpose(p) for p in (purposes or ["crisis_response"])),
            expires_at=parse_consent_expiry(expires, f"{where}expires"),
        )
    except ValueError:
        known = ", ".join(p.value for p in Purpose)
        raise InvalidInputError(
            "invalid consent",
            problems=[Problem(f"{where}purposes", f"purposes are {known}; roles are responder")],
        ) from None


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.replace(",", ";").split(";") if part.strip()]


#: problems reported at most from one consent file
_MAX_PROBLEMS = 50


def _row_plan(row: dict[str, str], where: str) -> ConsentPlan:
    """One CSV row's consent change (``where`` prefixes each problem's location)."""
    local_id = (row.get("record_id") or "").strip()
    if not local_id:
        raise InvalidInputError(
            "invalid consent file", problems=[Problem(f"{where}record_id", "is empty")]
        )
    if _flag(row.get("revoked") or "", f"{where}revoked", False):
        return ConsentPlan(local_id, None)
    return ConsentPlan(
        local_id,
        _build(
            disclose=_flag(row.get("disclose") or "", f"{where}disclose", True),
            purposes=_split(row.get("purposes") or ""),
            agencies=_split(row.get("recipient_agencies") or ""),
            roles=_split(row.get("recipient_roles") or ""),
            expires=(row.get("expires") or "").strip() or None,
            allow_linkage=_flag(row.get("allow_linkage") or "", f"{where}allow_linkage", True),
            where=where,
        ),
    )


def read_consent_csv(path: Path) -> list[ConsentPlan]:
    """Parse the bulk consent CSV (see the module docstring)."""
    try:
        stream = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path.name}: {exc.strerror}") from None
    plans: list[ConsentPlan] = []
    problems: list[Problem] = []
    with stream:
        try:
            reader = csv.DictReader(bounded_lines(stream, path.name))
            if reader.fieldnames is None or "record_id" not in reader.fieldnames:
                raise InvalidInputError(f"{path.name} needs a record_id column")
            for number, row in enumerate(reader, start=1):
                try:
                    plans.append(_row_plan(row, f"row {number}, column "))
                except InvalidInputError as exc:  # every row's problems, not just the first
                    problems.extend(exc.problems or [Problem(f"row {number}", exc.message)])
                    if len(problems) >= _MAX_PROBLEMS:
                        break
        except UnicodeDecodeError:
            raise InvalidInputError(f"{path.name} is not UTF-8 text") from None
        except csv.Error:
            raise InvalidInputError(f"{path.name} cannot be parsed as CSV") from None
    if problems:
        raise InvalidInputError("invalid consent file", problems=problems[:_MAX_PROBLEMS])
    return plans


@click.group("consent")
def consent_group() -> None:
    """Set, change, revoke and list the consent of uploaded records."""


def _send(config_path: Path, plans: list[ConsentPlan]) -> None:
    if not plans:
        raise InvalidInputError("name record IDs, or give --from-csv / --from-file")
    session = load_session(config_path)
    with session.state() as state:
        if state.pending_summary()[0]:
            click.echo("resuming: sending batches an earlier run left pending")
            echo_send_report(send_all_pending(session, state, "resuming"))
        count = plan_consent(session, state, plans)
        click.echo(f"changing the consent of {count} records")
        echo_send_report(send_all_pending(session, state, "consent"))


@consent_group.command("set")
@config_option
@click.argument("record_ids", nargs=-1)
@click.option(
    "--from-csv",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Bulk: a consent CSV (see docs/agency-client.md).",
)
@click.option(
    "--disclose/--no-disclose",
    default=True,
    show_default=True,
    help="May responders see the pointer?",
)
@click.option(
    "--purpose",
    "purposes",
    multiple=True,
    type=click.Choice([p.value for p in Purpose]),
    help="Repeatable; default crisis_response.",
)
@click.option(
    "--recipient-agency",
    "agencies",
    multiple=True,
    help="Only these agencies' responders (repeatable; default any).",
)
@click.option("--expires", default=None, help="YYYY-MM-DD; required with --disclose.")
@click.option("--no-linkage", is_flag=True, help="The record may not be linked at all.")
def consent_set(
    config_path: Path,
    record_ids: tuple[str, ...],
    from_csv: Path | None,
    disclose: bool,
    purposes: tuple[str, ...],
    agencies: tuple[str, ...],
    expires: str | None,
    no_linkage: bool,
) -> None:
    """Set (or change) the consent of records, by local record ID or from a CSV."""
    plans: list[ConsentPlan] = []
    if record_ids:
        consent = _build(
            disclose=disclose,
            purposes=list(purposes),
            agencies=list(agencies),
            roles=[],
            expires=expires,
            allow_linkage=not no_linkage,
            where="--",
        )
        plans.extend(ConsentPlan(local_id, consent) for local_id in record_ids)
    if from_csv is not None:
        plans.extend(read_consent_csv(from_csv))
    _send(config_path, plans)


@consent_group.command("revoke")
@config_option
@click.argument("record_ids", nargs=-1)
@click.option(
    "--from-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A file of local record IDs, one per line.",
)
def consent_revoke(config_path: Path, record_ids: tuple[str, ...], from_file: Path | None) -> None:
    """Revoke the consent of records: nothing of them is disclosed from the next lookup on."""
    ids = list(record_ids) + (read_id_file(from_file) if from_file is not None else [])
    _send(config_path, [ConsentPlan(local_id, None) for local_id in ids])


@consent_group.command("list")
@config_option
@click.option(
    "--export",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Show local record IDs by matching keys against this export "
    "(default: the last uploaded export).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per record.")
def consent_list(config_path: Path, export: Path | None, as_json: bool) -> None:
    """List the records the matcher holds for this agency, with their consent."""
    session = load_session(config_path)
    with session.state() as state:
        last = state.get_meta("last_export")
    source = export or (Path(last) if last else None)
    names: dict[bytes, str] = {}
    if source is not None and source.is_file():
        names = {session.keys.record_key(i): i for i in iter_local_ids(session.config, source)}
    with session.matcher() as client:
        for record in client.list_records(session.config.parent):
            consent = consent_from_proto(record.consent)
            local_id = names.get(record.record_key, "?")
            if as_json:
                click.echo(
                    json.dumps(
                        {
                            "record_id": local_id,
                            "record_key": record.record_key.hex(),
                            "linked": record.linked,
                            "consent": describe_consent(consent),
                        },
                        sort_keys=True,
                    )
                )
            else:
                linked = "linked" if record.linked else "unlinked"
                click.echo(f"{local_id}\t{linked}\t{describe_consent(consent)}")
