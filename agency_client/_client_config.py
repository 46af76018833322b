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
    expires = "2027-06-30"             # required when disclose = true

    [gateway]
    listen = "127.0.0.1:8765"          # loopback by default
    purpose = "crisis_response"        # every lookup's purpose; a request cannot change it
    cert = "tls/gateway/cert.pem"      # the gateway's responder certificate (to the matcher)
    key = "tls/gateway/key.pem"
    token_file = "gateway.token"       # bearer token (0600); required, on loopback too
    # token_env = "GATEWAY_TOKEN"
    # https_cert = "tls/web/fullchain.pem"  # the agency's web server certificate (and chain):
    # https_key = "tls/web/key.pem"         # HTTPS, required beyond loopback; key mode 0600

Relative paths are resolved against the config file's folder.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, Final

from agency_client._config import AgencyConfig, load_agency_config
from linkage.consent import Consent, Purpose
from linkage.errors import ConfigError, InvalidInputError, Problem
from linkage.pki import Role, validate_identifier

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_GATEWAY_LISTEN",
    "ClientConfig",
    "GatewaySettings",
    "HttpsFiles",
    "TlsFiles",
    "is_host_port",
    "is_loopback_listen",
    "load_client_config",
    "parse_consent_expiry",
    "parse_roles",
]

DEFAULT_BATCH_SIZE: Final = 1000
MAX_BATCH_SIZE: Final = 10000
DEFAULT_GATEWAY_LISTEN: Final = "127.0.0.1:8765"
DEFAULT_STATE_FILE: Final = "state/upload-state.sqlite"


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
        if not is_host_port(self.listen):
            raise ConfigError("invalid gateway", problems=[Problem("gateway.listen", "host:port")])
        if self.token_file is not None and self.token_env is not None:
            raise ConfigError(
                "invalid gateway",
                problems=[Problem("gateway", "name at most one of token_file or token_env")],
            )


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


def is_loopback_listen(listen: str) -> bool:
    """Whether ``host:port`` binds to loopback only."""
    host = listen.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_roles(values: object, where: str, problems: list[Problem]) -> frozenset[Role]:
    """Role names (``responder``, ``agency``) from a TOML list."""
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        problems.append(Problem(where, "must be a list of role names"))
        return frozenset()
    roles: set[Role] = set()
    for value in values:
        try:
            roles.add(Role(value))
        except ValueError:
            problems.append(Problem(where, "roles are responder or agency"))
    return frozenset(roles)


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


_ALLOWED: Final = {
    "matcher": ("address", "ca_cert", "cert", "key", "batch_size"),
    "pointer": ("key_file",),
    "state": ("file",),
    "consent": (
        "disclose",
        "allow_linkage",
        "recipient_roles",
        "recipient_agencies",
        "purposes",
        "expires",
    ),
    "gateway": (
        "listen",
        "purpose",
        "cert",
        "key",
        "token_file",
        "token_env",
        "max_links",
        "https_cert",
        "https_key",
    ),
}


def _consent(table: Mapping[str, Any], problems: list[Problem]) -> Consent:
    allow = table.get("allow_linkage", True)
    if not isinstance(allow, bool):
        problems.append(Problem("consent.allow_linkage", "must be true or false"))
        allow = True
    disclose = table.get("disclose", False)
    if not isinstance(disclose, bool):
        problems.append(Problem("consent.disclose", "must be true or false"))
        return Consent.no_disclosure()
    if not disclose:
        return Consent.no_disclosure(allow_linkage=allow)
    roles = parse_roles(
        table.get("recipient_roles", ["responder"]), "consent.recipient_roles", problems
    )
    agencies = table.get("recipient_agencies", [])
    if not isinstance(agencies, list) or not all(isinstance(a, str) for a in agencies):
        problems.append(Problem("consent.recipient_agencies", "must be a list of agency IDs"))
        agencies = []
    purposes: set[Purpose] = set()
    raw_purposes = table.get("purposes", ["crisis_response"])
    if not isinstance(raw_purposes, list):
        raw_purposes = []
        problems.append(Problem("consent.purposes", "must be a list"))
    for value in raw_purposes:
        try:
            purposes.add(Purpose(value))
        except ValueError:
            known = ", ".join(p.value for p in Purpose)
            problems.append(Problem("consent.purposes", f"must be among {known}"))
    expires_text = table.get("expires")
    if not isinstance(expires_text, str):
        problems.append(Problem("consent.expires", "is required when disclose = true"))
        return Consent.no_disclosure()
    try:
        expires = parse_consent_expiry(expires_text, "consent.expires")
        return Consent(
            allow_linkage=allow,
            recipient_roles=roles,
            recipient_agencies=frozenset(agencies),
            purposes=frozenset(purposes),
            expires_at=expires,
        )
    except InvalidInputError as exc:
        problems.extend(
            Problem(f"consent.{p.location.removeprefix('$.')}", p.reason) for p in exc.problems
        )
        return Consent.no_disclosure()


def load_client_config(path: Path, environ: Mapping[str, str]) -> ClientConfig:
    """Load ``agency.toml`` with its workflow tables (``ConfigError`` names each problem)."""
    encoding = load_agency_config(path, environ)
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    base = path.resolve().parent
    problems: list[Problem] = []

    def table(name: str) -> Mapping[str, Any]:
        value = document.get(name, {})
        if not isinstance(value, dict):
            problems.append(Problem(name, "must be a table"))
            return {}
        problems.extend(
            Problem(f"{name}.{k}", "unknown key") for k in value if k not in _ALLOWED[name]
        )
        return value

    def text(tbl: Mapping[str, Any], where: str, key: str, default: str | None = None) -> str:
        value = tbl.get(key, default)
        if not isinstance(value, str) or not value:
            problems.append(Problem(f"{where}.{key}", "is required (a non-empty string)"))
            return ""
        return value

    agency_table = document.get("agency", {})
    agency_id = agency_table.get("id") if isinstance(agency_table, dict) else None
    if not isinstance(agency_id, str) or not agency_id:
        problems.append(Problem("agency.id", "is required: the agency ID enrolled at the matcher"))
        agency_id = "unknown"
    matcher = table("matcher")
    pointer = table("pointer")
    state = table("state")
    consent_table = table("consent")
    gateway_table = table("gateway")
    address = text(matcher, "matcher", "address")
    ca_cert = base / text(matcher, "matcher", "ca_cert")
    agency_tls = TlsFiles(
        ca_cert, base / text(matcher, "matcher", "cert"), base / text(matcher, "matcher", "key")
    )
    batch_size = matcher.get("batch_size", DEFAULT_BATCH_SIZE)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool):
        problems.append(Problem("matcher.batch_size", "must be an integer"))
        batch_size = DEFAULT_BATCH_SIZE
    key_file = base / text(pointer, "pointer", "key_file", "pointer.key")
    state_file = base / text(state, "state", "file", DEFAULT_STATE_FILE)
    consent = _consent(consent_table, problems)
    gateway_tls = None
    if "cert" in gateway_table or "key" in gateway_table:
        gateway_tls = TlsFiles(
            ca_cert,
            base / text(gateway_table, "gateway", "cert"),
            base / text(gateway_table, "gateway", "key"),
        )
    purpose_text = gateway_table.get("purpose", Purpose.CRISIS_RESPONSE.value)
    try:
        purpose = Purpose(purpose_text)
    except ValueError:
        problems.append(
            Problem("gateway.purpose", "must be one of " + ", ".join(p.value for p in Purpose))
        )
        purpose = Purpose.CRISIS_RESPONSE
    https = None
    if "https_cert" in gateway_table or "https_key" in gateway_table:
        if "https_cert" not in gateway_table or "https_key" not in gateway_table:
            problems.append(Problem("gateway", "name https_cert and https_key together"))
        else:
            https = HttpsFiles(
                base / text(gateway_table, "gateway", "https_cert"),
                base / text(gateway_table, "gateway", "https_key"),
            )
    token_file = gateway_table.get("token_file")
    token_env = gateway_table.get("token_env")
    max_links = gateway_table.get("max_links", 5)
    if not isinstance(max_links, int) or not 1 <= max_links <= 20:
        problems.append(Problem("gateway.max_links", "must be an integer in 1..20"))
        max_links = 5
    if problems:
        raise ConfigError(f"{path.name} is invalid", problems=problems)
    try:
        gateway = GatewaySettings(
            listen=str(gateway_table.get("listen", DEFAULT_GATEWAY_LISTEN)),
            purpose=purpose,
            tls=gateway_tls,
            token_file=base / token_file if isinstance(token_file, str) else None,
            token_env=token_env if isinstance(token_env, str) else None,
            max_links=max_links,
            https=https,
        )
        return ClientConfig(
            encoding=encoding,
            agency_id=agency_id,
            matcher_address=address,
            agency_tls=agency_tls,
            pointer_key_file=key_file,
            state_file=state_file,
            batch_size=batch_size,
            default_consent=consent,
            gateway=gateway,
        )
    except InvalidInputError as exc:
        raise ConfigError(
            f"{path.name} is invalid", problems=exc.problems or [Problem("agency.id", exc.message)]
        ) from None
