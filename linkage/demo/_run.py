"""The demo's moving parts, step by step: its work folder, the real CLIs it runs, the
matcher and gateway processes it starts and stops (used by the narrated run in
:mod:`linkage.demo._story` and by the end-to-end test)."""

from __future__ import annotations

import csv
import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Final

import click

from linkage.demo._scenario import (
    DEFAULT_THRESHOLD,
    GATEWAY_AGENCY,
    LINKAGE_MODES,
    MHC,
    PROTAGONIST,
    PROTAGONIST_AGENCIES,
    PROTAGONIST_QUERY,
    CliResult,
    DemoError,
    PairQuality,
    default_threshold,
)
from linkage.errors import UnavailableError
from linkage.portfile import wait_for_port_file

__all__ = ["DemoRun"]

_SERVER_START_TIMEOUT_S: Final = 90.0
_CLI_TIMEOUT_S: Final = 300.0


@dataclass
class DemoRun:
    """The demo's moving parts, step by step (used by ``main`` and the end-to-end test)."""

    work_dir: Path
    people: int = 300
    seed: int = 2025
    threshold: float | None = None
    linkage: str = "probabilistic"
    verbose_logs: bool = False
    echo: Any = click.echo
    python: str = sys.executable
    results: list[CliResult] = field(default_factory=list)
    server: subprocess.Popen[bytes] | None = None
    gateway: subprocess.Popen[bytes] | None = None
    matcher_port: int = 0
    gateway_port: int = 0
    pki: Any = None
    scenario: Any = None
    _logs: list[IO[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Absolute, because the servers and CLIs run with the work folder as their current
        # directory and are handed paths inside it (./dev.sh demo passes "demo-run").
        self.work_dir = self.work_dir.resolve()
        if self.linkage not in LINKAGE_MODES:
            raise DemoError(f"linkage must be one of {', '.join(LINKAGE_MODES)}")
        if self.threshold is None and self.linkage == "dice":
            self.threshold = default_threshold(self.linkage)

    # ------------------------------------------------------------------ paths
    @property
    def logs_dir(self) -> Path:
        return self.work_dir / "logs"

    @property
    def data_dir(self) -> Path:
        return self.work_dir / "exports"

    def agency_dir(self, agency_id: str) -> Path:
        return self.work_dir / "agencies" / agency_id

    def agency_config(self, agency_id: str) -> Path:
        return self.agency_dir(agency_id) / "agency.toml"

    @property
    def matcher_address(self) -> str:
        return f"localhost:{self.matcher_port}"

    # ------------------------------------------------------------------ processes
    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("AGENCY_CLIENT_CONFIG", None)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def run_cli(self, module: str, *args: str, check: bool = True) -> CliResult:
        """Run ``python -m module args`` and record its output (in logs/cli.log too)."""
        command = [self.python, "-m", module, *args]
        done = subprocess.run(
            command,
            cwd=self.work_dir,
            env=self._environment(),
            capture_output=True,
            text=True,
            timeout=_CLI_TIMEOUT_S,
            check=False,
        )
        result = CliResult(tuple(args), done.returncode, done.stdout, done.stderr)
        self.results.append(result)
        with (self.logs_dir / "cli.log").open("a", encoding="utf-8") as log:
            log.write(
                f"$ {module} {' '.join(args)}\n{done.stdout}{done.stderr}[exit {done.returncode}]\n"
            )
        if check and done.returncode != 0:
            raise DemoError(
                f"{module} {args[0] if args else ''} failed with exit code {done.returncode}: "
                f"{done.stderr.strip()[-2000:]} (see {self.logs_dir / 'cli.log'})"
            )
        return result

    def agency_client(self, agency_id: str, *args: str, check: bool = True) -> CliResult:
        command, *rest = args
        if command == "consent":
            sub, *rest = rest
            full = ["consent", sub, "--config", str(self.agency_config(agency_id)), *rest]
        else:
            full = [command, "--config", str(self.agency_config(agency_id)), *rest]
        return self.run_cli("agency_client.cli", *full, check=check)

    def _operator_options(self) -> list[str]:
        paths = self.pki.operator.paths
        return [
            "--matcher",
            self.matcher_address,
            "--ca-cert",
            str(paths.ca_certificate),
            "--cert",
            str(paths.certificate),
            "--key",
            str(paths.private_key),
        ]

    def admin(self, *args: str) -> CliResult:
        group, command, *rest = args
        return self.run_cli("linkage.admin", group, command, *self._operator_options(), *rest)

    def _launch(self, name: str, command: list[str], port_file: Path) -> subprocess.Popen[bytes]:
        port_file.unlink(missing_ok=True)
        log = (self.logs_dir / f"{name}.log").open("ab")
        self._logs.append(log)
        return subprocess.Popen(
            command,
            cwd=self.work_dir,
            env=self._environment(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )

    def _wait_for(self, process: subprocess.Popen[bytes], name: str, port_file: Path) -> int:
        """The port the process bound, once its port file is written."""
        try:
            return wait_for_port_file(port_file, process, name, timeout_s=_SERVER_START_TIMEOUT_S)
        except UnavailableError as exc:
            raise DemoError(f"{exc.message}; see {self.logs_dir / (name + '.log')}") from None

    # ------------------------------------------------------------------ steps
    def prepare(self) -> None:
        """A fresh work folder, the demo PKI, the secret and the exports."""
        from linkage.pki import create_demo_pki
        from linkage.synth import DEFAULT_AGENCIES, generate_scenario, write_scenario

        if self.work_dir.exists():
            shutil.rmtree(self.work_dir)
        self.logs_dir.mkdir(parents=True)
        agency_ids = [a.agency_id for a in DEFAULT_AGENCIES]
        self.pki = create_demo_pki(self.work_dir / "pki", agency_ids=agency_ids)
        self.launch_matcher()  # it warms its kernels while the exports are generated
        secret = self.work_dir / "shared" / "linkage-secret.key"
        secret.parent.mkdir(mode=0o700)
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as stream:
            stream.write(secrets.token_hex(32) + "\n")
        self.scenario = generate_scenario(
            people=self.people,
            seed=self.seed,
            always_present=[(PROTAGONIST, PROTAGONIST_AGENCIES)],
        )
        write_scenario(self.scenario, self.data_dir)
        for agency in DEFAULT_AGENCIES:
            (self.data_dir / f"{agency.agency_id}.mapping.toml").write_text(agency.mapping_toml)

    def launch_matcher(self) -> None:
        """Write server.toml (the shipped sample of the linkage mode, as
        ``linkage-server init-config`` writes it) and start ``linkage-server serve``
        (without waiting)."""
        from linkage.server._sample_config import SampleSettings, sample_server_config

        server = self.pki.server.paths
        config = self.work_dir / "server.toml"
        fixed = self.threshold if self.linkage == "probabilistic" else None
        config.write_text(
            sample_server_config(
                self.linkage,
                SampleSettings(
                    listen="127.0.0.1:0",
                    trust_domain="coresponder.test",
                    ca_cert=str(server.ca_certificate),
                    cert=str(server.certificate),
                    key=str(server.private_key),
                    crl=str(self.pki.directory.crl_path),
                    store_path="matcher/index.sqlite",
                    dice_threshold=self.threshold or DEFAULT_THRESHOLD,
                    probability_threshold=fixed,
                    grace_period_s=5,
                ),
            ),
            encoding="utf-8",
        )
        (self.work_dir / "matcher").mkdir(mode=0o700, exist_ok=True)  # the store's folder
        port_file = self.work_dir / "matcher" / "port"
        command = [self.python, "-m", "linkage.server.cli"]
        if self.verbose_logs:
            command.append("--verbose")
        command += ["serve", "--config", str(config), "--port-file", str(port_file)]
        self.server = self._launch("matcher", command, port_file)

    def start_matcher(self) -> None:
        """Wait until the matcher launched by :meth:`prepare` serves."""
        assert self.server is not None
        port_file = self.work_dir / "matcher" / "port"
        self.matcher_port = self._wait_for(self.server, "matcher", port_file)

    def enrol_agencies(self) -> None:
        from linkage.synth import DEFAULT_AGENCIES

        for agency in DEFAULT_AGENCIES:
            self.admin(
                "agency",
                "create",
                agency.agency_id,
                "--display-name",
                agency.display_name,
                "--contact-name",
                agency.contact.display_name,
                "--contact-phone",
                agency.contact.phone_number,
                "--contact-instructions",
                agency.contact.instructions,
            )

    def init_agency(self, agency_id: str) -> CliResult:
        """``agency-client init`` with the agency's certificates, mapping and default consent."""
        from linkage.synth import DEFAULT_AGENCIES

        agency = next(a for a in DEFAULT_AGENCIES if a.agency_id == agency_id)
        it = self.pki.agencies[agency_id].paths
        gateway = self.pki.responders[agency_id].paths
        expires = (datetime.now(UTC) + timedelta(days=365)).strftime("%Y-%m-%d")
        consent: list[str] = ["--no-disclose"]
        if agency_id == MHC:
            consent = ["--disclose", "--purpose", "crisis_response", "--consent-expires", expires]
        elif agency_id == "riverside-er":
            consent = [
                "--disclose",
                "--purpose",
                "crisis_response",
                "--purpose",
                "care_coordination",
                "--consent-expires",
                expires,
            ]
        return self.run_cli(
            "agency_client.cli",
            "init",
            str(self.agency_dir(agency_id)),
            "--agency-id",
            agency_id,
            "--name",
            agency.display_name,
            "--matcher",
            self.matcher_address,
            "--ca-cert",
            str(it.ca_certificate),
            "--cert",
            str(it.certificate),
            "--key",
            str(it.private_key),
            "--gateway-cert",
            str(gateway.certificate),
            "--gateway-key",
            str(gateway.private_key),
            "--secret-file",
            str(self.work_dir / "shared" / "linkage-secret.key"),
            "--mapping",
            str(self.data_dir / f"{agency_id}.mapping.toml"),
            "--gateway-listen",
            "127.0.0.1:0",
            *(["--schema", "default-segmented"] if self.linkage == "probabilistic" else []),
            *consent,
        )

    def upload(self, agency_id: str, export: Path | None = None) -> CliResult:
        path = export or self.data_dir / f"{agency_id}.csv"
        return self.agency_client(agency_id, "upload", str(path))

    def status(self, agency_id: str) -> dict[str, Any]:
        result = self.agency_client(agency_id, "status", "--json")
        parsed: dict[str, Any] = json.loads(result.stdout)
        return parsed

    def index_status(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.admin("index", "status").stdout)
        return parsed

    def changed_police_export(self) -> tuple[Path, int, int, int]:
        """A second police export: 5 people moved, 2 records gone, 3 new ones."""
        from linkage.synth import Messiness, generate_scenario

        source = self.data_dir / f"{GATEWAY_AGENCY}.csv"
        with source.open(newline="", encoding="utf-8") as stream:
            rows = list(csv.reader(stream))
        header, body = rows[0], rows[1:]
        protagonist_ids = {
            t.local_id
            for t in self.scenario.truth
            if t.agency_id == GATEWAY_AGENCY and t.person_id == PROTAGONIST.person_id
        }
        movable = [row for row in body if row[0] not in protagonist_ids]
        address = header.index("address")
        for row in movable[:5]:
            row[address] = (
                f"{int(row[address].split()[0] or 1) + 100} Heron Rise"
                if row[address]
                else "9 Heron Rise"
            )
        removed = {row[0] for row in movable[-2:]}
        body = [row for row in body if row[0] not in removed]
        extra = generate_scenario(
            people=40, seed=self.seed + 1, messiness=Messiness(duplicates=0.0, twins=0.0)
        ).export(GATEWAY_AGENCY)
        new_rows = [list(r) for r in extra.rows[:3]]
        for index, row in enumerate(new_rows):
            row[0] = f"MPD-9{index:05d}"
        path = self.data_dir / f"{GATEWAY_AGENCY}-week2.csv"
        with path.open("w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(header)
            writer.writerows(body + new_rows)
        return path, 5, len(removed), len(new_rows)

    def start_gateway(self) -> None:
        port_file = self.agency_dir(GATEWAY_AGENCY) / "gateway.port"
        command = [
            self.python,
            "-m",
            "agency_client.cli",
            "gateway",
            "--config",
            str(self.agency_config(GATEWAY_AGENCY)),
            "--port-file",
            str(port_file),
        ]
        if self.verbose_logs:
            command.append("--verbose")
        self.gateway = self._launch("gateway", command, port_file)
        self.gateway_port = self._wait_for(self.gateway, "gateway", port_file)

    @property
    def gateway_token(self) -> str:
        """The police gateway's bearer token (``agency-client init`` wrote it, mode 0600)."""
        return (self.agency_dir(GATEWAY_AGENCY) / "gateway.token").read_text().strip()

    def lookup(self, query: Mapping[str, str] = PROTAGONIST_QUERY) -> dict[str, Any]:
        """POST the query to the gateway's JSON endpoint, with the gateway's bearer token."""
        connection = http.client.HTTPConnection("127.0.0.1", self.gateway_port, timeout=60)
        try:
            connection.request(
                "POST",
                "/api/v1/lookup",
                body=json.dumps(dict(query)),
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {self.gateway_token}",
                },
            )
            response = connection.getresponse()
            payload: dict[str, Any] = json.loads(response.read())
        finally:
            connection.close()
        if response.status != 200:
            raise DemoError(f"the gateway answered {response.status}: {payload.get('error')}")
        return payload

    def local_id(self, agency_id: str, person_id: str = PROTAGONIST.person_id) -> str:
        for row in self.scenario.truth:
            if row.agency_id == agency_id and row.person_id == person_id:
                return str(row.local_id)
        raise DemoError(f"{person_id} has no record at {agency_id}")

    def quality(self) -> list[PairQuality]:
        """Pairwise precision/recall/F1 per agency pair, from the matcher's store and the truth
        (:func:`linkage.demo._quality.pair_quality`; imported here, so that importing the demo
        loads neither the store nor the agency client)."""
        from linkage.demo._quality import pair_quality

        return pair_quality(self.work_dir, self.scenario, self.agency_dir)

    def stop(self) -> None:
        """Stop the gateway and the matcher (SIGTERM, then SIGKILL); close logs."""
        for process in (self.gateway, self.server):
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
        for log in self._logs:
            log.close()
        self._logs.clear()
