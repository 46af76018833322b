"""Generate the Python protobuf and gRPC code, with mypy stubs, from protos/.

This is the only way ``linkage/v1/`` is written. Its output is committed and
never edited by hand; a test regenerates it into a temporary directory and
fails if anything differs.

    python scripts/gen_protos.py            # write into the repository
    python scripts/gen_protos.py --out DIR  # write into DIR (used by the test)
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO / "protos"
PACKAGE_DIR = Path("linkage") / "v1"
INIT_TEXT = (
    '"""Generated protobuf and gRPC code for the linkage.v1 API.\n\n'
    "Written by scripts/gen_protos.py from protos/linkage/v1/*.proto. Do not edit.\n"
    '"""\n'
)


def generate(out_root: Path) -> list[Path]:
    """Generate into ``out_root/linkage/v1`` and return the files written."""
    from grpc_tools import protoc

    protos = sorted(p.relative_to(PROTO_ROOT) for p in (PROTO_ROOT / PACKAGE_DIR).glob("*.proto"))
    if not protos:
        raise SystemExit(f"no .proto files under {PROTO_ROOT / PACKAGE_DIR}")
    well_known = str(resources.files("grpc_tools") / "_proto")
    # mypy-protobuf's plugins are installed beside the interpreter running us.
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{well_known}",
            f"--python_out={tmp}",
            f"--grpc_python_out={tmp}",
            f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
            f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
            f"--mypy_out={tmp}",
            f"--mypy_grpc_out={tmp}",
            *(str(p) for p in protos),
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        generated = Path(tmp) / PACKAGE_DIR
        target = out_root / PACKAGE_DIR
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        written = []
        for src in sorted(generated.iterdir()):
            dst = target / src.name
            shutil.copyfile(src, dst)
            written.append(dst)
        init = target / "__init__.py"
        init.write_text(INIT_TEXT)
        written.append(init)
        (target / "py.typed").write_text("")
        written.append(target / "py.typed")
    return sorted(written)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO, help="root to write linkage/v1 into")
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(path.relative_to(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
