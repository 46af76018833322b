"""Start-up: warm_up loads every kernel of the path in force; on a CPU without AVX2 the
``portable`` path is chosen and gives the same pairs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import linkage.match._kernels as kernels
import linkage.match._lsh_kernels as lsh_kernels
import linkage.match._screen_kernels as screen_kernels
from linkage.match import dice_join, kernel_path, warm_up
from linkage.match.reference import dice_join_reference


@pytest.mark.unit
def test_warm_up_runs_every_kernel_quickly_once_cached() -> None:
    warm_up()  # may compile on a fresh machine
    assert warm_up(bits=1024, thresholds=(0.8, 0.9)) < 10.0
    join = kernels.JOIN_KERNELS[kernel_path()]
    assert join.pairs.signatures
    assert join.topk.signatures
    for name in ["lookup_kernel_1", "lookup_kernel_4"]:
        assert getattr(kernels, name).signatures, name
    for name in [
        "lsh_join_kernel",
        "lsh_keys_kernel",
        "lsh_bitmap_kernel",
        "lsh_screen_kernel",
        "lsh_row_keys_kernel",
        "greedy_bipartite_kernel",
    ]:
        assert getattr(lsh_kernels, name).signatures, name
    for name in ["band_hash_kernel", "band_hash_screen_kernel"]:
        assert getattr(screen_kernels, name).signatures, name


@pytest.mark.integration
def test_generic_cpu_target_falls_back_to_portable_code(tmp_path: Path) -> None:
    """With numba targeting a generic x86-64 CPU (no SSSE3, no AVX2), the ``portable`` path is
    chosen, the others are refused with the reason, and LLVM's generic lowering of the same
    vector IR (the lookup's nibble tiles too) still returns the reference's pairs."""
    script = textwrap.dedent(
        """
        import json, sys
        import numpy as np
        from linkage.errors import ConfigError
        from linkage.match import dice_join, ClkIndex, kernel_path, set_kernel_path
        refused = []
        for forced in ("vpopcnt512", "nibble"):
            try:
                set_kernel_path(forced)
            except ConfigError as exc:
                refused.append(str(exc))
        set_kernel_path(None)
        rng = np.random.default_rng(1)
        a = np.packbits(rng.random((60, 1088)) < 0.3, axis=1).view(">u8").astype(np.uint64)
        b = a ^ np.packbits(rng.random((60, 1088)) < 0.03, axis=1).view(">u8").astype(np.uint64)
        pairs = dice_join(a, b, 0.7)
        index = ClkIndex(1088)
        index.add(np.arange(60), b)
        hits = index.search(a[:1], 0.7, 3)[0]
        json.dump(
            {"path": kernel_path(), "refused": refused, "pairs": pairs.as_tuples(),
             "hits": hits.as_tuples()},
            sys.stdout,
        )
        """
    )
    env = dict(os.environ, NUMBA_CPU_NAME="generic", NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("LINKAGE_MATCH_KERNEL", None)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["path"] == "portable"
    assert len(result["refused"]) == 2
    assert "lacks avx512f, avx512vpopcntdq" in result["refused"][0]
    assert "LINKAGE_MATCH_KERNEL=nibble cannot run here" in result["refused"][1]
    rng = np.random.default_rng(1)
    a = np.packbits(rng.random((60, 1088)) < 0.3, axis=1).view(">u8").astype(np.uint64)
    b = a ^ np.packbits(rng.random((60, 1088)) < 0.03, axis=1).view(">u8").astype(np.uint64)
    expected = dice_join_reference(a, b, 0.7).as_tuples()
    assert [tuple(p) for p in result["pairs"]] == expected
    assert [tuple(p) for p in result["pairs"]] == dice_join(a, b, 0.7).as_tuples()
    assert len(expected) >= 55
    assert result["hits"][0][1] == 0
