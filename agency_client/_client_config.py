"""The workflow half of ``agency.toml``: matcher, certificates, keys, state, consent, gateway.

``agency-client init`` writes these tables; every workflow command loads them with
:func:`load_client_config`, which also loads the encoding half
(:func:`agency_client._config.load_agency_config`). Example::

    [agency]
    id = "valley-mhc"                  # the agency ID enrolled at the matcher
    name = "Valley Mental Health"
    key_epoch = 1

    [matcher]
    address = "localhost:50051"
    ca_cert = "tls/ca.pem"             # the operator's CA
    cert = "tls/agency/cert.pem"       # this agency's IT certificate (role agency)
    key = "tls/agency/key.pem"         # its private key (mode 0600)
    batch_size = 1000                  # mutations per batch

    [pointer]
    key_file = "pointer.key"           # mode 0600; never leaves the agency

    [state]
    file = "state/upload-state.sqlite" # record keys and keyed digests, no PII

    [consent]                          # the consent of records that have none of their own
    disclose = false                   # true: recipients below may see the pointer
    allow_linkage = true
    recipient_roles = ["responder"]
    recipient_agencies = []            # empty: any agency's responders
    purposes = ["crisis_response"]
    expires = "2027-06-30"             # required when disclose = true or evaluation = true
    evaluation = false                 # true: the records' events count in the programme's
                                       # aggregate outcome measures (docs/outcomes.md)

    [gateway]
    listen = "127.0.0.1:8765"          # loopback by default
    purpose = "crisis_response"        # every lookup's purpose; a request cannot change it
    cert = "tls/gateway/cert.pem"      # the gateway's responder certificate (to the matcher)
    key = "tls/gateway/key.pem"
    token_file = "gateway.token"       # bearer token (0600); required, on loopback too
    # token_env = "GATEWAY_TOKEN"
    # https_cert = "tls/web/fullchain.pem"  # the agency's web server certificate (and chain):
    # https_key = "tls/web/key.pem"         # HTTPS, required beyond loopback; key mode 0600

    [rotation]                         # only during a key-epoch rotation (docs/key-rotation.md)
    key_epoch = 2                      # the epoch the programme is moving to
    secret_file = "secret-2.key"       # its linkage secret (mode 0600), or secret_env = "NAME"
    lookups = "current"                # "next": the gateway encodes lookups in key_epoch

Relative paths are resolved against the config file's folder. The file is parsed once and
validated as a whole (:class:`agency_client._tables.ClientToml`), the encoding half
included, so every problem of either half is named at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Final

from agency_client._config import AgencyConfig, agency_config_from, load_secret
from agency_client._tables import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_GATEWAY_LISTEN,
    ClientToml,
    ConsentTable,
    GatewayTable,
    RotationTable,
    SecretTable,
    read_agency_toml,
)
from linkage.addresses import is_loopback as is_loopback_listen
from linkage.consent import Consent, Purpose
from linkage.errors import ConfigError, InvalidInputError, Problem
from linkage.identity import Role, validate_identifier
from linkage.validation import Findings, check

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_GATEWAY_LISTEN",
    "ClientConfig",
    "GatewaySettings",
    "HttpsFiles",
    "RotationSettings",
    "TlsFiles",
    "is_host_port",
    "is_loopback_listen",
    "load_client_config",
    "parse_consent_expiry",
]

MAX_BATCH_SIZE: Final = 10000
#: Most links one gateway lookup shows.
MAX_GATEWAY_LINKS: Final = 20


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """A client credential: the CA bundle, a certificate and its private key."""

    ca_cert: Path
    cert: Path
    key: Path


@dataclass(frozen=True, slots=True)
class HttpsFiles:
    """The gateway's own web server credential: the agency's certificate (with its chain,
    leaf first) and its private key (a private file: mode 0600)."""

    cert: Path
    key: Path


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """How ``agency-client gateway`` serves and whom it calls as."""

    listen: str = DEFAULT_GATEWAY_LISTEN
    purpose: Purpose = Purpose.CRISIS_RESPONSE
    tls: TlsFiles | None = None
    token_file: Path | None = None
    token_env: str | None = None
    max_links: int = 5
    https: HttpsFiles | None = None

    def __post_init__(self) -> None:
        problems = []
        if not is_host_port(self.listen):
            problems.append(Problem("gateway.listen", "must be host:port"))
        if self.token_file is not None and self.token_env is not None:
            problems.append(Problem("gateway", "name at most one of token_file or token_env"))
        if not 1 <= self.max_links <= MAX_GATEWAY_LINKS:
            problems.append(Problem("gateway.max_links", f"must be in 1..{MAX_GATEWAY_LINKS}"))
        if problems:
            raise ConfigError("invalid gateway", problems=problems)


@dataclass(frozen=True, slots=True)
class RotationSettings:
    """``[rotation]``: the next key epoch of a rotation in progress. ``encoding`` is the
    agency's encoding configuration with that epoch and its secret; ``lookups_next``: the
    gateway encodes lookups in it."""

    encoding: AgencyConfig
    lookups_next: bool

    @property
    def key_epoch(self) -> int:
        return self.encoding.key_epoch


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """Everything the workflow commands need, validated on load."""

    encoding: AgencyConfig
    agency_id: str
    matcher_address: str
    agency_tls: TlsFiles
    pointer_key_file: Path
    state_file: Path
    batch_size: int
    default_consent: Consent
    gateway: GatewaySettings
    rotation: RotationSettings | None = None

    def __post_init__(self) -> None:
        validate_identifier(self.agency_id, "agency.id")
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise ConfigError(
                "invalid matcher settings",
                problems=[Problem("matcher.batch_size", f"must be in 1..{MAX_BATCH_SIZE}")],
            )

    @property
    def parent(self) -> str:
        """``agencies/{agency}``."""
        return f"agencies/{self.agency_id}"

    @property
    def record_id_column(self) -> str | None:
        """The export column holding the local record ID (``[input] record_key``)."""
        return self.encoding.record_key


def is_host_port(listen: str) -> bool:
    """Whether ``listen`` is ``host:port`` with a decimal port 0-65535."""
    host, sep, port = listen.rpartition(":")
    return bool(sep and host and port.isascii() and port.isdecimal() and int(port) < 65536)


def parse_consent_expiry(text: str, where: str) -> datetime:
    """``YYYY-MM-DD`` (end of that day, UTC) or ``YYYY-MM-DDTHH:MM:SSZ``."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(
            "invalid consent expiry",
            problems=[Problem(where, "must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ")],
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).replace(microsecond=0)


def _roles(values: list[str], problems: list[Problem]) -> frozenset[Role]:
    roles: set[Role] = set()
    for value in values:
        try:
            roles.add(Role(value))
        except ValueError:
            problems.append(Problem("consent.recipient_roles", "roles are responder or agency"))
    return frozenset(roles)


def _purposes(values: list[str], problems: list[Problem]) -> frozenset[Purpose]:
    purposes: set[Purpose] = set()
    for value in values:
        try:
            purposes.add(Purpose(value))
        except ValueError:
            known = ", ".join(p.value for p in Purpose)
            problems.append(Problem("consent.purposes", f"must be among {known}"))
    return frozenset(purposes)


def _consent(table: ConsentTable, findings: Findings) -> Consent | None:
    if not table.disclose and not table.evaluation:
        return Consent.no_disclosure(allow_linkage=table.allow_linkage)
    problems: list[Problem] = []
    if table.disclose:
        roles = _roles(table.recipient_roles, problems)
        purposes = _purposes(table.purposes, problems)
    else:  # evaluation only: no recipient
        roles, purposes = frozenset(), frozenset()
    if table.evaluation:
        purposes |= {Purpose.EVALUATION}
    if table.expires is None:
        when = "disclose = true" if table.disclose else "evaluation = true"
        problems.append(Problem("consent.expires", f"is required when {when}"))
    findings.extend(problems)
    if problems or table.expires is None:
        return None
    expires_text = table.expires
    try:
        return Consent(
            allow_linkage=table.allow_linkage,
            recipient_roles=roles,
            recipient_agencies=frozenset(table.recipient_agencies)
            if table.disclose
            else frozenset(),
            purposes=purposes,
            expires_at=parse_consent_expiry(expires_text, "consent.expires"),
        )
    except InvalidInputError as exc:
        findings.extend(
            Problem(f"consent.{p.location.removeprefix('$.')}", p.reason) for p in exc.problems
        )
        return None


def _gateway(
    table: GatewayTable, base: Path, ca_cert: Path, findings: Findings
) -> GatewaySettings | None:
    problems: list[Problem] = []
    tls: TlsFiles | None = None
    if table.cert is not None or table.key is not None:
        if table.cert is None or table.key is None:
            problems.append(Problem("gateway", "name cert and key together"))
        else:
            tls = TlsFiles(ca_cert, base / table.cert, base / table.key)
    https: HttpsFiles | None = None
    if table.https_cert is not None or table.https_key is not None:
        if table.https_cert is None or table.https_key is None:
            problems.append(Problem("gateway", "name https_cert and https_key together"))
        else:
            https = HttpsFiles(base / table.https_cert, base / table.https_key)
    lookup_purposes = ", ".join(p.value for p in Purpose if p is not Purpose.EVALUATION)
    try:
        purpose = Purpose(table.purpose)
    except ValueError:
        problems.append(Problem("gateway.purpose", "must be one of " + lookup_purposes))
        purpose = Purpose.CRISIS_RESPONSE
    if purpose is Purpose.EVALUATION:
        problems.append(
            Problem(
                "gateway.purpose",
                "evaluation is an aggregate purpose, never a lookup's; use one of "
                + lookup_purposes,
            )
        )
    findings.extend(problems)
    if problems:
        return None
    return findings.build(
        lambda: GatewaySettings(
            listen=table.listen,
            purpose=purpose,
            tls=tls,
            token_file=None if table.token_file is None else base / table.token_file,
            token_env=table.token_env,
            max_links=table.max_links,
            https=https,
        )
    )


def load_client_config(path: Path, environ: Mapping[str, str]) -> ClientConfig:
    """Load ``agency.toml`` with its workflow tables (``ConfigError`` names each problem of
    either half, the file parsed once)."""
    document, problems = check(ClientToml, read_agency_toml(path))
    findings = Findings(problems)
    config = None if document is None else _client_config(document, path, environ, findings)
    if findings or config is None:
        raise ConfigError(f"{path.name} is invalid", problems=findings.problems)
    return config


def _client_config(
    document: ClientToml, path: Path, environ: Mapping[str, str], findings: Findings
) -> ClientConfig | None:
    base = path.resolve().parent
    encoding = agency_config_from(document, path, environ, findings)
    matcher = document.matcher
    ca_cert = base / matcher.ca_cert
    consent = _consent(document.consent, findings)
    gateway = _gateway(document.gateway, base, ca_cert, findings)
    if encoding is None or consent is None or gateway is None:
        return None
    rotation = (
        None
        if document.rotation is None
        else _rotation(document.rotation, encoding, base, environ, findings)
    )
    if document.rotation is not None and rotation is None:
        return None
    return findings.build(
        lambda: ClientConfig(
            encoding=encoding,
            agency_id=document.agency.id,
            matcher_address=matcher.address,
            agency_tls=TlsFiles(ca_cert, base / matcher.cert, base / matcher.key),
            pointer_key_file=base / document.pointer.key_file,
            state_file=base / document.state.file,
            batch_size=matcher.batch_size,
            default_consent=consent,
            gateway=gateway,
            rotation=rotation,
        ),
        "agency.id",
    )


def _rotation(
    table: RotationTable,
    encoding: AgencyConfig,
    base: Path,
    environ: Mapping[str, str],
    findings: Findings,
) -> RotationSettings | None:
    """The next epoch's settings: its number above the current one, and its secret from a
    file or the environment, never the command line."""
    problems: list[Problem] = []
    if not encoding.key_epoch < table.key_epoch < 2**32:
        problems.append(
            Problem(
                "rotation.key_epoch",
                f"must be above [agency] key_epoch ({encoding.key_epoch}) and below 2^32",
            )
        )
    found = Findings()
    source = SecretTable(file=table.secret_file, env=table.secret_env)
    secret = load_secret(source, base, environ, found)
    renamed = {
        "secret": "rotation",
        "secret.file": "rotation.secret_file",
        "secret.env": "rotation.secret_env",
    }
    for problem in found.problems:
        reason = problem.reason.replace("file or env", "secret_file or secret_env").replace(
            "[secret] env", "[rotation] secret_env"
        )
        problems.append(Problem(renamed.get(problem.location, problem.location), reason))
    findings.extend(problems)
    if problems or secret is None:
        return None
    return RotationSettings(
        encoding=dataclasses.replace(encoding, key_epoch=table.key_epoch, secret=secret),
        lookups_next=table.lookups == "next",
    )
