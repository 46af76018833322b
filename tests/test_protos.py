"""The generated protobuf code is exactly what scripts/gen_protos.py writes, and
the API contract is documented element by element."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parent.parent
GENERATED = REPO / "linkage" / "v1"


def test_regenerating_changes_nothing(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_protos.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    fresh = tmp_path / "linkage" / "v1"
    committed = sorted(p.name for p in GENERATED.iterdir() if p.name != "__pycache__")
    regenerated = sorted(p.name for p in fresh.iterdir())
    assert committed == regenerated
    match, mismatch, errors = filecmp.cmpfiles(GENERATED, fresh, regenerated, shallow=False)
    assert (mismatch, errors) == ([], []), "run scripts/gen_protos.py and commit the result"
    assert match == regenerated


def _descriptor_set(tmp_path: Path) -> descriptor_pb2.FileDescriptorSet:
    from grpc_tools import protoc

    out = tmp_path / "set.pb"
    protos = sorted(str(p.relative_to(REPO / "protos")) for p in (REPO / "protos").rglob("*.proto"))
    rc = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{REPO / 'protos'}",
            f"-I{resources.files('grpc_tools') / '_proto'}",
            "--include_source_info",
            f"--descriptor_set_out={out}",
            *protos,
        ]
    )
    assert rc == 0
    return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def _undocumented(file: descriptor_pb2.FileDescriptorProto) -> list[str]:
    documented = {
        tuple(loc.path) for loc in file.source_code_info.location if loc.leading_comments.strip()
    }
    missing: list[str] = []

    def check(path: tuple[int, ...], what: str) -> None:
        if path not in documented:
            missing.append(f"{file.name}: {what}")

    def walk_message(msg: descriptor_pb2.DescriptorProto, path: tuple[int, ...], name: str) -> None:
        check(path, name)
        for i, field in enumerate(msg.field):
            check((*path, 2, i), f"{name}.{field.name}")
        for i, nested in enumerate(msg.nested_type):
            walk_message(nested, (*path, 3, i), f"{name}.{nested.name}")
        for i, enum in enumerate(msg.enum_type):
            walk_enum(enum, (*path, 4, i), f"{name}.{enum.name}")
        for i, oneof in enumerate(msg.oneof_decl):
            check((*path, 8, i), f"{name}.{oneof.name}")

    def walk_enum(
        enum: descriptor_pb2.EnumDescriptorProto, path: tuple[int, ...], name: str
    ) -> None:
        check(path, name)
        for i, value in enumerate(enum.value):
            check((*path, 2, i), f"{name}.{value.name}")

    for i, msg in enumerate(file.message_type):
        walk_message(msg, (4, i), msg.name)
    for i, enum in enumerate(file.enum_type):
        walk_enum(enum, (5, i), enum.name)
    for i, service in enumerate(file.service):
        check((6, i), service.name)
        for j, method in enumerate(service.method):
            check((6, i, 2, j), f"{service.name}.{method.name}")
    return missing


def test_every_service_method_message_field_and_enum_value_is_documented(tmp_path: Path) -> None:
    files = _descriptor_set(tmp_path).file
    ours = [f for f in files if f.package == "linkage.v1"]
    assert {f.name for f in ours} >= {
        "linkage/v1/common.proto",
        "linkage/v1/ingest.proto",
        "linkage/v1/lookup.proto",
        "linkage/v1/operator.proto",
    }
    missing = [item for f in ours for item in _undocumented(f)]
    assert missing == []


def test_services_are_split_by_role(tmp_path: Path) -> None:
    services = {
        s.name: sorted(m.name for m in s.method)
        for f in _descriptor_set(tmp_path).file
        if f.package == "linkage.v1"
        for s in f.service
    }
    assert set(services) == {"IngestService", "LookupService", "OperatorService"}
    assert services["LookupService"] == ["Lookup"]
