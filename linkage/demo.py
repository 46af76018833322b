"""``./dev.sh demo``: a small co-responder scenario, end to end, through the real CLIs.

What it does, in a fresh work folder (default ``./demo-run/``, git-ignored):

1. generates a demo PKI (CA, matcher, operator, and per agency an IT and a
   gateway certificate) and a fresh linkage secret;
2. generates four agencies' messy exports with :mod:`linkage.synth` (police,
   mental-health centre, hospital ER, substance-use programme), keeping the truth
   file for the evaluation only;
3. starts the matcher (``linkage-server serve``, SQLite, mutual TLS) as a subprocess
   and enrols the agencies (``linkage-admin agency create``);
4. runs ``agency-client init`` and ``agency-client upload`` for each agency in turn,
   so links form incrementally, then a delta upload of a changed police export;
5. starts the police's responder gateway (``agency-client gateway``) and looks a
   person up: the mental-health centre's card shows, the substance-use
   programme's record (no consent) stays hidden; after ``agency-client consent
   set`` it shows; after ``agency-client withdraw`` it is gone; the centre opens
   the pointer token it was shown with ``agency-client deref``;
6. prints pairwise precision, recall and F1 per agency pair against the truth, read
   from the matcher's store (an operator-side evaluation).

The server and gateway are stopped in ``finally``; nothing is left running.
:class:`DemoRun` exposes each step so the end-to-end test can assert on all of them.
"""

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
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Final

import click

from linkage.errors import LinkageError, UnavailableError
from linkage.portfile import wait_for_port_file

__all__ = [
    "PROTAGONIST",
    "PROTAGONIST_QUERY",
    "UNKNOWN_QUERY",
    "CliResult",
    "DemoError",
    "DemoRun",
    "PairQuality",
    "main",
    "run_demo",
]

#: How the demo's matcher links: ``probabilistic`` (the default: per-field segments scored
#: by a Fellegi-Sunter model, duplicate-aware average-link clusters; docs/quality.md) or
#: ``dice`` (one Dice score per record-level CLK, anonlink's greedy clustering).
LINKAGE_MODES: Final = ("probabilistic", "dice")
#: The probabilistic matcher's match-probability threshold.
DEFAULT_PROBABILITY_THRESHOLD: Final = 0.5
#: The Dice matcher's threshold for the shipped hardened schema. Keyed diffusion lowers
#: every Dice score (unrelated records sit near 0.43 instead of 0.77 with the plain
#: schema), so 0.8 would lose a third of true pairs. At 0.55 about 2 in 1,000,000
#: unrelated FEBRL pairs pass, FEBRL4 F1 is 0.987 and the demo's F1 0.914
#: (docs/hardening.md, docs/agency-client.md "Measured"); but on the multi-agency data a
#: responder's lookup of a stranger finds a look-alike neighbour at this threshold most of
#: the time (docs/quality.md "In the service"), which is why the demo runs probabilistic.
DEFAULT_THRESHOLD: Final = 0.55


def default_threshold(linkage: str) -> float:
    """The demo's threshold for a linkage mode (a probability or a Dice score)."""
    return DEFAULT_PROBABILITY_THRESHOLD if linkage == "probabilistic" else DEFAULT_THRESHOLD


_SERVER_START_TIMEOUT_S: Final = 90.0
_CLI_TIMEOUT_S: Final = 300.0
_GATEWAY_AGENCY: Final = "metro-police"
_MHC: Final = "valley-mhc"
_SUD: Final = "harbour-sud"


def _protagonist() -> Any:
    from linkage.synth import Person

    return Person(
        person_id="P-DEMO",
        given_name="Jordan",
        middle_name="Avery",
        surname="Whitfield-Okoro",
        date_of_birth=date(1987, 3, 14),
        sex="f",
        mobile="412555019",
        street_no="27",
        street="Lyrebird Lane",
        suburb="Brunswick",
        postcode="3056",
        state="VIC",
    )


#: The person the demo looks up: known to the police, the mental-health centre and
#: the substance-use programme (not to the ER).
PROTAGONIST: Final = _protagonist()
PROTAGONIST_AGENCIES: Final = ("metro-police", "valley-mhc", "harbour-sud")
#: The lookup a responder types into the gateway for the protagonist.
PROTAGONIST_QUERY: Final[Mapping[str, str]] = {
    "given_name": "Jordan",
    "surname": "Whitfield-Okoro",
    "date_of_birth": "1987-03-14",
    "sex": "f",
    "phone": "0412 555 019",
    "street_address": "27 Lyrebird Lane",
    "suburb": "Brunswick",
    "postcode": "3056",
    "state": "VIC",
}
#: A person no agency knows, asked with the same fields.
UNKNOWN_QUERY: Final[Mapping[str, str]] = {
    "given_name": "Quillon",
    "surname": "Zzyzx-Abara",
    "date_of_birth": "1931-07-02",
    "sex": "m",
    "phone": "0499 000 111",
    "street_address": "1 Nowhere Track",
    "suburb": "Oodnadatta",
    "postcode": "5734",
    "state": "SA",
}


class DemoError(LinkageError):
    """A demo step failed; the message says which and points at its log."""


@dataclass(frozen=True, slots=True)
class CliResult:
    """One run of a real CLI."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


@dataclass(frozen=True, slots=True)
class PairQuality:
    """Pairwise linkage quality between two agencies."""

    agency_a: str
    agency_b: str
    true_pairs: int
    found_pairs: int
    correct_pairs: int

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.found_pairs if self.found_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


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
        (self.work_dir / "matcher").mkdir(exist_ok=True)
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
        if agency_id == _MHC:
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

        source = self.data_dir / f"{_GATEWAY_AGENCY}.csv"
        with source.open(newline="", encoding="utf-8") as stream:
            rows = list(csv.reader(stream))
        header, body = rows[0], rows[1:]
        protagonist_ids = {
            t.local_id
            for t in self.scenario.truth
            if t.agency_id == _GATEWAY_AGENCY and t.person_id == PROTAGONIST.person_id
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
        ).export(_GATEWAY_AGENCY)
        new_rows = [list(r) for r in extra.rows[:3]]
        for index, row in enumerate(new_rows):
            row[0] = f"MPD-9{index:05d}"
        path = self.data_dir / f"{_GATEWAY_AGENCY}-week2.csv"
        with path.open("w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(header)
            writer.writerows(body + new_rows)
        return path, 5, len(removed), len(new_rows)

    def start_gateway(self) -> None:
        port_file = self.agency_dir(_GATEWAY_AGENCY) / "gateway.port"
        command = [
            self.python,
            "-m",
            "agency_client.cli",
            "gateway",
            "--config",
            str(self.agency_config(_GATEWAY_AGENCY)),
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
        return (self.agency_dir(_GATEWAY_AGENCY) / "gateway.token").read_text().strip()

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
        """Pairwise precision/recall/F1 per agency pair, from the matcher's store and the truth.

        Operator-side evaluation: the demo knows every agency's pointer key (it made
        them), so it can map record keys back to local IDs; real operators cannot.
        """
        from agency_client._keys import AgencyKeys
        from agency_client.pointer import load_pointer_key
        from linkage.store import SqliteLinkStore
        from linkage.synth import DEFAULT_AGENCIES, true_pairs

        agency_ids = [a.agency_id for a in DEFAULT_AGENCIES]
        local_of: dict[tuple[str, bytes], str] = {}
        for agency_id in agency_ids:
            keys = AgencyKeys.from_pointer_key(
                load_pointer_key(self.agency_dir(agency_id) / "pointer.key"), agency_id
            )
            for row in self.scenario.truth:
                if row.agency_id == agency_id:
                    local_of[(agency_id, keys.record_key(row.local_id))] = row.local_id
        store = SqliteLinkStore(self.work_dir / "matcher" / "index.sqlite")
        try:
            links = sorted({link for _, link in store.iter_node_links()})
            members = store.link_members(links)
        finally:
            store.close()
        by_link: dict[int, list[tuple[str, str]]] = {}
        for member in members:
            local = local_of.get((member.agency_id, member.record_key))
            if local is not None:
                by_link.setdefault(member.link_id, []).append((member.agency_id, local))
        report: list[PairQuality] = []
        for i, a in enumerate(agency_ids):
            for b in agency_ids[i + 1 :]:
                found = {
                    (x, y)
                    for group in by_link.values()
                    for agency_x, x in group
                    if agency_x == a
                    for agency_y, y in group
                    if agency_y == b
                }
                truth = true_pairs(self.scenario.truth, a, b)
                report.append(PairQuality(a, b, len(truth), len(found), len(found & truth)))
        return report

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
        result = demo.upload(_GATEWAY_AGENCY, path)
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
            f"code is in {demo.agency_dir(_GATEWAY_AGENCY) / 'gateway.token'})"
        )
        first = demo.lookup()
        echo(f"    {_describe(first['results'])}")
        echo("    (the substance-use programme's record is linked but has no consent: hidden)")
        mhc = [r for r in first["results"] if r["agency"] == _MHC]
        if mhc:
            deref = demo.agency_client(_MHC, "deref", str(mhc[0]["pointer_token"]), "--id-only")
            echo(f"    the centre opens the pointer it was shown: record {deref.stdout.strip()}")
        expires = (datetime.now(UTC) + timedelta(days=90)).strftime("%Y-%m-%d")
        sud_id = demo.local_id(_SUD)
        demo.agency_client(
            _SUD, "consent", "set", sud_id, "--purpose", "crisis_response", "--expires", expires
        )
        second = demo.lookup()
        echo(
            f"[7] after a consent grant (agency-client consent set): {_describe(second['results'])}"
        )
        demo.agency_client(_SUD, "withdraw", sud_id)
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


@click.command()
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-run"),
    show_default=True,
    help="A fresh folder for the demo's files (emptied first).",
)
@click.option("--people", type=click.IntRange(10, 5000), default=300, show_default=True)
@click.option(
    "--linkage",
    type=click.Choice(LINKAGE_MODES),
    default="probabilistic",
    show_default=True,
    help="probabilistic: per-field segments and a Fellegi-Sunter model; dice: one Dice "
    "score per record-level CLK (for comparison).",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0.01, 0.99),
    default=None,
    help="The matcher's threshold: a match probability for probabilistic linkage (default: "
    f'"auto", the fitted model\'s suggestion), a Dice score for dice (default '
    f"{DEFAULT_THRESHOLD}).",
)
def main(work_dir: Path, people: int, linkage: str, threshold: float | None) -> None:
    """Run the co-responder scenario end to end on the embedded defaults."""
    sys.exit(run_demo(work_dir, people=people, threshold=threshold, linkage=linkage))


if __name__ == "__main__":
    main()
