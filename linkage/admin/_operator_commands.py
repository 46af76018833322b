"""Operator commands that talk to a running matcher over mutual TLS
(``agency``, ``links``, ``index``, ``events``) or read its store directly
(``audit verify``, ``audit head``)."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
import grpc

from linkage.audit_heads import AuditHead, format_audit_head, parse_audit_heads
from linkage.channel import mtls_channel
from linkage.errors import ConfigError, IntegrityError, LinkageError
from linkage.server import load_server_config, open_store
from linkage.service import verify_audit_log
from linkage.store import LinkStore
from linkage.v1 import common_pb2, operator_pb2, operator_pb2_grpc

__all__ = ["agency", "audit", "events", "index", "links"]

_F = TypeVar("_F", bound=Callable[..., Any])
_EVENT_NAMES = {
    value.number: value.name.removeprefix("KIND_").lower()
    for value in operator_pb2.Event.Kind.DESCRIPTOR.values
}


@dataclass(frozen=True, slots=True)
class _Connection:
    matcher: str
    ca_cert: Path
    cert: Path
    key: Path

    def stub(self) -> operator_pb2_grpc.OperatorServiceStub:
        return operator_pb2_grpc.OperatorServiceStub(
            mtls_channel(
                self.matcher,
                ca_certificate=self.ca_cert,
                certificate=self.cert,
                private_key=self.key,
            )
        )


def connection_options(func: _F) -> _F:
    """``--matcher``, ``--ca-cert``, ``--cert``, ``--key``: how to reach the matcher
    as the operator. Each may come from the environment instead."""
    options = [
        click.option(
            "--matcher",
            envvar="LINKAGE_MATCHER",
            required=True,
            help="The matcher's host:port (env LINKAGE_MATCHER).",
        ),
        click.option(
            "--ca-cert",
            envvar="LINKAGE_CA_CERT",
            required=True,
            type=click.Path(dir_okay=False, path_type=Path),
            help="The CA certificate (env LINKAGE_CA_CERT).",
        ),
        click.option(
            "--cert",
            envvar="LINKAGE_OPERATOR_CERT",
            required=True,
            type=click.Path(dir_okay=False, path_type=Path),
            help="The operator's certificate (env LINKAGE_OPERATOR_CERT).",
        ),
        click.option(
            "--key",
            envvar="LINKAGE_OPERATOR_KEY",
            required=True,
            type=click.Path(dir_okay=False, path_type=Path),
            help="The operator's private key file, mode 0600 (env LINKAGE_OPERATOR_KEY).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


_T = TypeVar("_T")


def _call(what: str, fn: Callable[[], _T]) -> _T:
    try:
        return fn()
    except grpc.RpcError as error:
        code = error.code()
        details = error.details()
        raise _rpc_error(what, code, details) from None


def _rpc_error(what: str, code: grpc.StatusCode, details: str | None) -> LinkageError:
    from linkage.errors import (
        AlreadyExistsError,
        AuthenticationError,
        InvalidInputError,
        NotFoundError,
        PermissionDeniedError,
        UnavailableError,
    )

    hint = {
        grpc.StatusCode.UNAVAILABLE: (
            UnavailableError,
            "is the matcher running, and are --matcher and the certificates right?",
        ),
        grpc.StatusCode.UNAUTHENTICATED: (
            AuthenticationError,
            "the operator certificate was refused (the details say why: revoked, expired,"
            " another CA or trust domain)",
        ),
        grpc.StatusCode.PERMISSION_DENIED: (
            PermissionDeniedError,
            "use an operator certificate for operator commands",
        ),
        grpc.StatusCode.NOT_FOUND: (NotFoundError, "check the name"),
        grpc.StatusCode.ALREADY_EXISTS: (AlreadyExistsError, "choose another ID"),
        grpc.StatusCode.INVALID_ARGUMENT: (InvalidInputError, "fix the input"),
    }
    cls, advice = hint.get(code, (LinkageError, "see the matcher's log"))
    return cls(f"{what} failed ({code.name}): {details or 'no details'}; {advice}")


def _echo_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def _card_json(card: common_pb2.ContactCard) -> dict[str, str]:
    return {
        "display_name": card.display_name,
        "instructions": card.instructions,
        "phone_number": card.phone_number,
    }


def _agency_json(agency_msg: operator_pb2.Agency) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "name": agency_msg.name,
        "display_name": agency_msg.display_name,
        "contact_card": _card_json(agency_msg.contact_card),
        "create_time": agency_msg.create_time.ToJsonString(),
    }
    if agency_msg.HasField("proposal"):
        proposal = agency_msg.proposal
        shown["proposal"] = {
            "display_name": proposal.display_name,
            "contact_card": _card_json(proposal.contact_card),
            "proposed_by": proposal.proposed_by,
            "propose_time": proposal.propose_time.ToJsonString(),
            "digest": proposal.digest.hex(),
        }
    return shown


def _card_options(func: _F) -> _F:
    for option in reversed(
        [
            click.option("--display-name", required=True, help="e.g. 'Valley Mental Health'."),
            click.option("--contact-name", default="", help="Name on the responder's card."),
            click.option("--contact-phone", default="", help="Number responders call."),
            click.option("--contact-instructions", default="", help="e.g. 'Ask for the on-call'."),
        ]
    ):
        func = option(func)
    return func


def _card(name: str, phone: str, instructions: str) -> common_pb2.ContactCard:
    return common_pb2.ContactCard(display_name=name, phone_number=phone, instructions=instructions)


@click.group()
def agency() -> None:
    """Enrol and maintain agencies on the matcher."""


@agency.command("create")
@connection_options
@click.argument("agency_id")
@_card_options
def agency_create(
    matcher: str,
    ca_cert: Path,
    cert: Path,
    key: Path,
    agency_id: str,
    display_name: str,
    contact_name: str,
    contact_phone: str,
    contact_instructions: str,
) -> None:
    """Enrol AGENCY_ID (2-63 of a-z, 0-9 and '-')."""
    stub = _Connection(matcher, ca_cert, cert, key).stub()
    created = _call(
        "enrolling the agency",
        lambda: stub.CreateAgency(
            operator_pb2.CreateAgencyRequest(
                agency_id=agency_id,
                agency=operator_pb2.Agency(
                    display_name=display_name,
                    contact_card=_card(contact_name, contact_phone, contact_instructions),
                ),
            )
        ),
    )
    _echo_json(_agency_json(created))


@agency.command("update")
@connection_options
@click.argument("agency_id")
@_card_options
def agency_update(
    matcher: str,
    ca_cert: Path,
    cert: Path,
    key: Path,
    agency_id: str,
    display_name: str,
    contact_name: str,
    contact_phone: str,
    contact_instructions: str,
) -> None:
    """Propose a new display name and contact card for AGENCY_ID. Responders keep
    seeing the card in force until the agency confirms the proposal
    (agency-client contact-card confirm)."""
    stub = _Connection(matcher, ca_cert, cert, key).stub()
    updated = _call(
        "updating the agency",
        lambda: stub.UpdateAgency(
            operator_pb2.UpdateAgencyRequest(
                agency=operator_pb2.Agency(
                    name=f"agencies/{agency_id}",
                    display_name=display_name,
                    contact_card=_card(contact_name, contact_phone, contact_instructions),
                )
            )
        ),
    )
    _echo_json(_agency_json(updated))
    if updated.HasField("proposal"):
        click.echo(
            f"proposed; {agency_id}'s card is unchanged until the agency confirms it "
            "(agency-client contact-card show, then confirm)",
            err=True,
        )


@agency.command("list")
@connection_options
def agency_list(matcher: str, ca_cert: Path, cert: Path, key: Path) -> None:
    """List enrolled agencies."""
    stub = _Connection(matcher, ca_cert, cert, key).stub()
    token = ""
    rows: list[dict[str, Any]] = []
    while True:
        request = operator_pb2.ListAgenciesRequest(page_token=token)
        page = _call("listing agencies", functools.partial(stub.ListAgencies, request))
        rows.extend(_agency_json(a) for a in page.agencies)
        token = page.next_page_token
        if not token:
            break
    _echo_json(rows)


@click.group()
def links() -> None:
    """Run linkage."""


@links.command("rebuild")
@connection_options
@click.option("--reason", default="", help="Recorded with the run, e.g. 'threshold review'.")
def links_rebuild(matcher: str, ca_cert: Path, cert: Path, key: Path, reason: str) -> None:
    """Rebuild every link from scratch; surviving links keep their IDs."""
    stub = _Connection(matcher, ca_cert, cert, key).stub()
    run = _call(
        "rebuilding links",
        lambda: stub.RebuildLinks(operator_pb2.RebuildLinksRequest(reason=reason)),
    )
    _echo_json(
        {
            "name": run.name,
            "records": run.record_count,
            "candidate_pairs": run.candidate_pair_count,
            "links": run.link_count,
            "changed_links": run.changed_link_count,
            "threshold": run.threshold,
            "seconds": (run.end_time.ToMicroseconds() - run.start_time.ToMicroseconds()) / 1e6,
            "model": json.loads(run.model_json) if run.model_json else None,
        }
    )


@click.group()
def index() -> None:
    """Inspect the link index."""


@index.command("status")
@connection_options
def index_status(matcher: str, ca_cert: Path, cert: Path, key: Path) -> None:
    """Counts per agency, links, and the linkage settings in force."""
    stub = _Connection(matcher, ca_cert, cert, key).stub()
    status = _call(
        "reading the index status",
        lambda: stub.GetIndexStatus(operator_pb2.GetIndexStatusRequest()),
    )
    _echo_json(
        {
            "records": status.record_count,
            "links": status.link_count,
            "key_epoch": status.key_epoch,
            "schema_fingerprint": status.schema_fingerprint,
            "clk_bits": status.clk_bits,
            "threshold": status.threshold,
            "last_event_sequence": status.last_event_sequence,
            "linkage": json.loads(status.linkage_model_json) if status.linkage_model_json else None,
            "agencies": {
                a.agency: {"records": a.record_count, "linked_records": a.linked_record_count}
                for a in status.agencies
            },
        }
    )


@click.command()
@connection_options
@click.option("--after", type=click.IntRange(min=0), default=0, help="Only events after this.")
@click.option("--limit", type=click.IntRange(1, 10000), default=100, show_default=True)
def events(matcher: str, ca_cert: Path, cert: Path, key: Path, after: int, limit: int) -> None:
    """The event log: ingests, withdrawals and link changes, oldest first."""
    stub = _Connection(matcher, ca_cert, cert, key).stub()
    page = _call(
        "listing events",
        lambda: stub.ListEvents(
            operator_pb2.ListEventsRequest(after_sequence=after, page_size=limit)
        ),
    )
    for event in page.events:
        click.echo(
            json.dumps(
                {
                    "sequence": event.sequence,
                    "time": event.event_time.ToJsonString(),
                    "kind": _EVENT_NAMES[event.kind],
                    "agency": event.agency or None,
                    "batch": event.batch or None,
                    "source_links": list(event.source_links),
                    "target_links": list(event.target_links),
                    "records": event.record_count,
                },
                sort_keys=True,
            )
        )


@click.group()
def audit() -> None:
    """The tamper-evident audit log."""


def _open_config_store(config_path: Path) -> LinkStore:
    config = load_server_config(config_path, os.environ)
    if config.store.engine == "sqlite" and (
        config.store.path is None or not config.store.path.exists()
    ):
        raise ConfigError(f"no store at {config.store.path}; check [store] in {config_path}")
    return open_store(config.store)


_CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The matcher's server.toml (its store is read, never written).",
)


def _read_heads(paths: tuple[Path, ...]) -> list[AuditHead]:
    heads: list[AuditHead] = []
    for path in paths:
        try:
            with path.open(encoding="utf-8") as lines:
                heads.extend(parse_audit_heads(lines, str(path)))
        except OSError as exc:
            raise ConfigError(f"cannot read the trusted heads {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"the trusted heads {path} are not UTF-8 text") from None
    return heads


@audit.command("verify")
@_CONFIG_OPTION
@click.option(
    "--trusted-head",
    "trusted_head_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A file of audit heads kept outside the matcher (agency-client audit-heads, "
    "linkage-admin audit head); the chain must still contain every one. Repeatable.",
)
def audit_verify(config_path: Path, trusted_head_files: tuple[Path, ...]) -> None:
    """Check the audit hash chain from the first entry to the last; name the
    first altered, inserted or deleted entry and exit 2 if there is one.

    With --trusted-head, a chain re-sealed from any entry up to a trusted head, or cut
    short of it, fails too: whoever holds the database can recompute the whole chain,
    but not the heads kept elsewhere."""
    heads = _read_heads(trusted_head_files)
    store = _open_config_store(config_path)
    try:
        result = verify_audit_log(store, [(h.sequence, h.entry_hash) for h in heads])
    finally:
        store.close()
    if not result.ok:
        raise IntegrityError(
            f"audit log verification FAILED at entry {result.first_bad_sequence}: "
            f"{result.reason} ({result.entries_checked} entries verified before it)"
        )
    trusted = (
        f"; it contains all {len(heads)} trusted heads (the latest at "
        f"{max(h.sequence for h in heads)})"
        if heads
        else ""
    )
    click.echo(
        f"audit log OK: {result.entries_checked} entries, last sequence {result.last_sequence}, "
        f"head {result.head_hash.hex()}{trusted}"
    )


@audit.command("head")
@_CONFIG_OPTION
def audit_head(config_path: Path) -> None:
    """Print the audit log's head (its last entry's sequence and hash) as one line of a
    trusted-heads file, after verifying the chain; keep it somewhere the matcher's
    database is not (another machine, the agencies), for audit verify --trusted-head."""
    store = _open_config_store(config_path)
    try:
        result = verify_audit_log(store)
    finally:
        store.close()
    if not result.ok:
        raise IntegrityError(
            f"audit log verification FAILED at entry {result.first_bad_sequence}: "
            f"{result.reason}; no head printed"
        )
    if result.last_sequence < 1:
        raise ConfigError("the audit log is empty: there is no head yet")
    click.echo(format_audit_head(AuditHead(result.last_sequence, result.head_hash)))
