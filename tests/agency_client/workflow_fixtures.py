"""Helpers for the workflow tests: an initialised agency folder with a synthetic export."""

from __future__ import annotations

import csv
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agency_client._gateway import write_gateway_token
from agency_client._session import AgencySession, open_session
from agency_client.pointer import generate_pointer_key, write_pointer_key
from linkage.synth import DEFAULT_AGENCIES, AgencyFormat, Scenario, generate_scenario

MHC = next(a for a in DEFAULT_AGENCIES if a.agency_id == "valley-mhc")


@dataclass
class AgencyFolder:
    root: Path
    agency: AgencyFormat
    scenario: Scenario

    @property
    def config(self) -> Path:
        return self.root / "agency.toml"

    @property
    def export(self) -> Path:
        return self.root / "export.csv"

    def rows(self) -> list[list[str]]:
        with self.export.open(newline="", encoding="utf-8") as stream:
            return list(csv.reader(stream))

    def write_rows(self, rows: Sequence[Sequence[str]], path: Path | None = None) -> Path:
        target = path or self.export
        with target.open("w", newline="", encoding="utf-8") as stream:
            csv.writer(stream).writerows(rows)
        return target

    def session(self) -> AgencySession:
        return open_session(self.config, os.environ)


def make_agency_folder(
    root: Path,
    *,
    people: int = 60,
    seed: int = 7,
    batch_size: int = 25,
    agency: AgencyFormat = MHC,
    matcher: str = "localhost:1",
    tls: tuple[Path, Path, Path] | None = None,
    gateway_tls: tuple[Path, Path] | None = None,
    disclose: bool = True,
    schema: str | None = None,
) -> AgencyFolder:
    """An agency folder as ``agency-client init`` leaves it, written directly (unit tests)."""
    root.mkdir(parents=True, exist_ok=True)
    secret = root / "secret.key"
    secret.write_text(secrets.token_hex(32) + "\n")
    secret.chmod(0o600)
    write_pointer_key(root / "pointer.key", generate_pointer_key())
    write_gateway_token(root / "gateway.token")
    ca, cert, key = tls or (root / "ca.pem", root / "cert.pem", root / "key.pem")
    consent = (
        'disclose = true\npurposes = ["crisis_response"]\nexpires = "2099-01-01"\n'
        if disclose
        else "disclose = false\n"
    )
    schema_table = "" if schema is None else f'[schema]\nfile = "{schema}"\n'
    gateway = ""
    if gateway_tls is not None:
        gateway = f'cert = "{gateway_tls[0]}"\nkey = "{gateway_tls[1]}"\n'
    (root / "agency.toml").write_text(
        f"""[agency]
id = "{agency.agency_id}"
name = "{agency.display_name}"
key_epoch = 1

[secret]
file = "secret.key"

[matcher]
address = "{matcher}"
ca_cert = "{ca}"
cert = "{cert}"
key = "{key}"
batch_size = {batch_size}

[pointer]
key_file = "pointer.key"

[consent]
{consent}
[gateway]
listen = "127.0.0.1:0"
token_file = "gateway.token"
{gateway}
{schema_table}
{agency.mapping_toml}"""
    )
    scenario = generate_scenario(people=people, seed=seed, agencies=[agency])
    folder = AgencyFolder(root, agency, scenario)
    export = scenario.exports[0]
    folder.write_rows([list(agency.header), *[list(r) for r in export.rows]])
    if os.environ.get("AGENCY_CLIENT_CONFIG"):
        raise RuntimeError("unset AGENCY_CLIENT_CONFIG for the tests")
    return folder
