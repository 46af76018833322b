"""A complete demo or test PKI in one call: CA, server, operator and two certs per agency."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from linkage.identity import Principal, Role, validate_identifier
from linkage.pki._directory import CredentialPaths, PkiDirectory, write_credentials
from linkage.pki._issue import generate_private_key

__all__ = ["DemoCredentials", "DemoPki", "create_demo_pki"]


@dataclass(frozen=True, slots=True)
class DemoCredentials:
    """One principal's files (key 0600, certificate, CA bundle)."""

    principal: Principal
    paths: CredentialPaths


@dataclass(frozen=True, slots=True)
class DemoPki:
    """What :func:`create_demo_pki` made. ``agencies`` and ``responders`` are keyed by agency ID."""

    directory: PkiDirectory
    server: DemoCredentials
    operator: DemoCredentials
    agencies: Mapping[str, DemoCredentials]
    responders: Mapping[str, DemoCredentials]


def create_demo_pki(
    root: Path,
    *,
    trust_domain: str = "coresponder.test",
    agency_ids: Sequence[str] = ("valley-mhc", "metro-pd"),
    server_dns_names: Sequence[str] = ("localhost",),
    server_ip_addresses: Sequence[str] = ("127.0.0.1",),
    validity: timedelta = timedelta(days=30),
    now: datetime | None = None,
) -> DemoPki:
    """Create ``root/pki`` (the CA) and ``root/credentials/<name>/`` for every demo principal.

    Names: the server is ``matcher``, the operator ``operator``, and each
    agency gets ``<agency>-it`` (role agency) and ``<agency>-gateway`` (role
    responder). Every key is freshly generated; nothing comes from the repo.
    """
    current = now if now is not None else datetime.now(UTC)
    for agency_id in agency_ids:
        validate_identifier(agency_id, "agency_id")
    directory = PkiDirectory.initialise(root / "pki", trust_domain, now=current)
    ca_cert = directory.ca_certificate()

    def make(
        role: Role,
        agency_id: str | None,
        name: str,
        dns: Sequence[str] = (),
        ips: Sequence[str] = (),
    ) -> DemoCredentials:
        key = generate_private_key(directory.algorithm)
        cert = directory.issue(
            role=role,
            agency_id=agency_id,
            name=name,
            public_key=key.public_key(),
            validity=validity,
            dns_names=dns,
            ip_addresses=ips,
            now=current,
        )
        paths = write_credentials(
            root / "credentials" / name,
            name,
            certificate=cert,
            ca_certificate=ca_cert,
            private_key=key,
        )
        return DemoCredentials(Principal(role, agency_id, name, cert.serial_number), paths)

    server = make(Role.SERVER, None, "matcher", server_dns_names, server_ip_addresses)
    operator = make(Role.OPERATOR, None, "operator")
    agencies = {a: make(Role.AGENCY, a, f"{a}-it") for a in agency_ids}
    responders = {a: make(Role.RESPONDER, a, f"{a}-gateway") for a in agency_ids}
    return DemoPki(directory, server, operator, agencies, responders)
