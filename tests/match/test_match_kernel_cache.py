"""numba's on-disk cache of a kernel is keyed by the kernel's own source file: every kernel
module records the digest of the primitives it inlines, so that a change of a primitive
forces an edit (and so a cache invalidation) of each kernel module."""

from __future__ import annotations

import hashlib
import types
from pathlib import Path

import pytest

import linkage.match._kernel_primitives as primitives
import linkage.match._kernels as kernels
import linkage.match._lsh_kernels as lsh_kernels
import linkage.match._screen_kernels as screen_kernels


def primitives_digest() -> str:
    source = Path(primitives.__file__).read_bytes()
    return hashlib.sha256(source).hexdigest()[:16]


@pytest.mark.unit
@pytest.mark.parametrize("module", [kernels, lsh_kernels, screen_kernels], ids=lambda m: m.__name__)
def test_kernel_module_records_the_digest_of_the_primitives_it_inlines(
    module: types.ModuleType,
) -> None:
    assert primitives_digest() == module.PRIMITIVES_DIGEST, (
        f"linkage/match/_kernel_primitives.py changed: set PRIMITIVES_DIGEST in "
        f"{Path(str(module.__file__)).name} to {primitives_digest()!r} so that numba's cached "
        "kernels of that file are compiled again"
    )


@pytest.mark.unit
def test_every_module_that_imports_the_primitives_records_their_digest() -> None:
    package = Path(primitives.__file__).parent
    importers = sorted(
        path.name
        for path in package.glob("*.py")
        if "_kernel_primitives import" in path.read_text() and path.name != "_kernel_primitives.py"
    )
    assert importers == ["_kernels.py", "_lsh_kernels.py", "_screen_kernels.py"]
