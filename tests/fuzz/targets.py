"""Fuzz targets over what reads untrusted bytes: the rule every one of them checks is that
a bad input ends in a named error (:class:`LinkageError`), never in any other exception
(which atheris reports as a crash, with the input that caused it).

Each target is a factory: it builds what the target needs once (a store, a configuration,
a gateway) and returns the function atheris calls with each input. The factories live in
three modules, imported by :func:`load_target` inside atheris's instrumentation, so that
the code they reach is instrumented for coverage:

======================= ==================================================================
target                  what one input is
======================= ==================================================================
``grpc_requests``       a selector byte and a serialised request of one of the servicers'
                        RPCs, decoded and served the way the server does (targets_grpc)
``consent_json``        stored consent bytes; what parses must serialise and parse back
``schema_json``         a linkage schema (plain, hardened or segmented)
``server_toml``         a ``server.toml``
``agency_toml``         an ``agency.toml`` (its secret and keys beside it)
``export_csv``          an agency's CSV export, mapped, checked and encoded (targets_client)
``gateway_api``         a selector byte and a request body for the gateway's JSON and form
                        routes, served by its ASGI app (targets_client)
``agency_files``        a selector byte and an events CSV, a consent CSV, a list of record
                        IDs or a CLK file (``.clk`` or clkhash JSON) (targets_client)
======================= ==================================================================
"""

from __future__ import annotations

import contextlib
import importlib
import secrets
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Final

from linkage.errors import LinkageError

__all__ = ["TARGETS", "OneInput", "load_target", "scratch_dir"]

OneInput = Callable[[bytes], None]

#: target name -> "module:factory"
TARGETS: Final[dict[str, str]] = {
    "grpc_requests": "tests.fuzz.targets_grpc:grpc_requests",
    "consent_json": "tests.fuzz.targets:consent_json",
    "schema_json": "tests.fuzz.targets:schema_json",
    "server_toml": "tests.fuzz.targets:server_toml",
    "agency_toml": "tests.fuzz.targets:agency_toml",
    "export_csv": "tests.fuzz.targets_client:export_csv",
    "gateway_api": "tests.fuzz.targets_client:gateway_api",
    "agency_files": "tests.fuzz.targets_client:agency_files",
    # not a real target: it fails on inputs starting with CANARY, so that the test suite
    # shows a finding is reported (tests/fuzz/test_fuzz.py)
    "canary": "tests.fuzz.targets:canary",
}

SAMPLES: Final = Path(__file__).resolve().parents[2] / "agency_client" / "samples"


def load_target(name: str) -> OneInput:
    """Build target ``name`` (imports its module: call inside the instrumentation)."""
    module_name, factory = TARGETS[name].split(":")
    module = importlib.import_module(module_name)
    built: OneInput = getattr(module, factory)()
    return built


def scratch_dir(prefix: str) -> Path:
    """A private temporary folder for a target's files (in memory where /dev/shm exists)."""
    shm = Path("/dev/shm")
    parent = str(shm) if shm.is_dir() else None
    path = Path(tempfile.mkdtemp(prefix=f"fuzz-{prefix}-", dir=parent))
    path.chmod(0o700)
    return path


#: what the sample agency.toml leaves out for upload and the gateway (its files need not exist)
CLIENT_TABLES: Final = b"""
[matcher]
address = "localhost:50051"
ca_cert = "ca.pem"
cert = "cert.pem"
key = "key.pem"

[gateway]
listen = "127.0.0.1:8080"
token_file = "gateway.token"
purpose = "crisis_response"

[consent]
disclose = true
purposes = ["crisis_response"]
expires = "2099-01-01"
"""


def client_agency_toml() -> bytes:
    """The sample agency.toml with an agency ID and the tables :data:`CLIENT_TABLES`."""
    sample = (SAMPLES / "agency.toml").read_bytes()
    return sample.replace(b"[agency]\n", b'[agency]\nid = "valley-mhc"\n', 1) + CLIENT_TABLES


def agency_folder(root: Path) -> Path:
    """The sample agency.toml (:func:`client_agency_toml`) and export with a fresh secret,
    as an agency keeps them."""
    shutil.copyfile(SAMPLES / "valley-mhc-export.csv", root / "valley-mhc-export.csv")
    (root / "agency.toml").write_bytes(client_agency_toml())
    secret = root / "linkage-secret.key"
    secret.write_text(secrets.token_hex(32) + "\n")
    secret.chmod(0o600)
    return root


CANARY: Final = b"canary"


def canary() -> OneInput:
    def one(data: bytes) -> None:
        if data.startswith(CANARY):
            raise KeyError("the canary target's planted failure")

    return one


# -- consent ----------------------------------------------------------------------------


def consent_json() -> OneInput:
    from linkage.consent import parse_consent, serialize_consent

    def one(data: bytes) -> None:
        try:
            consent = parse_consent(data)
        except LinkageError:
            return
        # whatever is accepted can be read back, and its canonical form is a fixed point
        canonical = serialize_consent(consent)
        again = parse_consent(canonical)
        if again != consent or serialize_consent(again) != canonical:
            raise AssertionError("a parsed consent does not survive its canonical bytes")

    return one


# -- schemas ----------------------------------------------------------------------------


def schema_json() -> OneInput:
    from agency_client._encoding import parse_encoding_schema

    def one(data: bytes) -> None:
        try:
            schema = parse_encoding_schema(data)
        except LinkageError:
            return
        # an accepted schema has a fingerprint and a length (what every agency compares)
        if not schema.fingerprint or schema.clk_bits <= 0:
            raise AssertionError("an accepted schema has no fingerprint or no length")

    return one


# -- configurations ---------------------------------------------------------------------


def server_toml() -> OneInput:
    from linkage.server import load_server_config

    root = scratch_dir("server-toml")
    path = root / "server.toml"

    def one(data: bytes) -> None:
        path.write_bytes(data)
        try:
            load_server_config(path, {})
        except LinkageError:
            return

    return one


def agency_toml() -> OneInput:
    from agency_client._client_config import load_client_config
    from agency_client._config import load_agency_config

    root = agency_folder(scratch_dir("agency-toml"))
    path = root / "agency.toml"

    def one(data: bytes) -> None:
        path.write_bytes(data)
        for load in (load_agency_config, load_client_config):
            with contextlib.suppress(LinkageError):
                load(path, {})

    return one
