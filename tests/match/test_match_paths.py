"""Kernel path selection: the rule for every kind of CPU (unit-tested on described targets, not
only on this machine), the setting that forces a path, and the CUDA path's kernel under
numba's CUDA simulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import numpy as np
import pytest

from linkage.errors import ConfigError, LinkageError
from linkage.match import (
    _kernels,
    dice_join,
    dice_self_join,
    kernel_path,
    kernel_path_problems,
    set_kernel_path,
)
from linkage.match._paths import CpuTarget, choose_path, parse_features, path_problem
from linkage.match.reference import dice_join_reference, dice_self_join_reference

ICE_LAKE = CpuTarget("icelake-server", frozenset({"avx2", "avx512f", "avx512vpopcntdq"}))
SKYLAKE_X = CpuTarget("skylake-avx512", frozenset({"avx2", "avx512f", "avx512bw"}))
ZEN3 = CpuTarget("znver3", frozenset({"avx2", "popcnt", "bmi2"}))
GENERIC = CpuTarget("generic", frozenset())
NEOVERSE = CpuTarget("neoverse-n1", frozenset({"neon", "v8.2a"}))


def no_cuda() -> str:
    return "no CUDA GPU and driver were found"


def has_cuda() -> None:
    return None


@pytest.fixture
def restore_path() -> Iterator[None]:
    before = kernel_path()
    yield
    set_kernel_path(before)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (ICE_LAKE, "vpopcnt512"),
        (SKYLAKE_X, "nibble"),  # AVX-512 without VPOPCNTDQ: the nibble path
        (ZEN3, "nibble"),
        (GENERIC, "portable"),
        (NEOVERSE, "portable"),
    ],
)
@pytest.mark.parametrize("setting", [None, "", "auto", " AUTO "])
def test_auto_picks_the_fastest_path_the_cpu_has(
    target: CpuTarget, expected: str, setting: str | None
) -> None:
    assert choose_path(setting, target, has_cuda) == expected  # never cuda by itself


@pytest.mark.unit
def test_a_forced_path_runs_where_the_cpu_has_it() -> None:
    assert choose_path("nibble", ICE_LAKE, no_cuda) == "nibble"
    assert choose_path("Portable", ZEN3, no_cuda) == "portable"
    assert choose_path("vpopcnt512", ICE_LAKE, no_cuda) == "vpopcnt512"


@pytest.mark.unit
@pytest.mark.parametrize(
    ("setting", "target", "reason"),
    [
        ("vpopcnt512", SKYLAKE_X, "(skylake-avx512) lacks avx512vpopcntdq"),
        ("vpopcnt512", ZEN3, "(znver3) lacks avx512f, avx512vpopcntdq"),
        ("nibble", GENERIC, "(generic) lacks avx2"),
        ("cuda", ICE_LAKE, "no CUDA GPU and driver were found"),
    ],
)
def test_a_forced_path_the_machine_lacks_is_refused_with_the_reason(
    setting: str, target: CpuTarget, reason: str
) -> None:
    with pytest.raises(ConfigError, match=rf"LINKAGE_MATCH_KERNEL={setting} cannot run here") as e:
        choose_path(setting, target, no_cuda)
    assert reason in str(e.value)
    assert isinstance(e.value, LinkageError)


@pytest.mark.unit
def test_cuda_is_chosen_only_when_asked_for_and_a_device_is_found() -> None:
    assert choose_path("cuda", ZEN3, has_cuda) == "cuda"
    assert choose_path("auto", ZEN3, has_cuda) == "nibble"


@pytest.mark.unit
def test_an_unknown_setting_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="use auto, vpopcnt512, nibble, portable, cuda"):
        choose_path("avx1024", ICE_LAKE, no_cuda)


@pytest.mark.unit
def test_llvm_feature_strings_are_read() -> None:
    assert parse_features("+avx2,-avx512f,+avx512vpopcntdq, +popcnt ,-,+") == frozenset(
        {"avx2", "avx512vpopcntdq", "popcnt"}
    )
    assert path_problem("portable", GENERIC, no_cuda) is None


@pytest.mark.unit
def test_this_machine_has_a_path_and_the_portable_one(restore_path: None) -> None:
    problems = kernel_path_problems()
    assert set(problems) == {"vpopcnt512", "nibble", "portable", "cuda"}
    assert problems["portable"] is None
    assert problems[set_kernel_path("auto")] is None
    assert set_kernel_path("portable") == kernel_path() == "portable"


@pytest.mark.unit
def test_the_environment_setting_forces_a_path(
    monkeypatch: pytest.MonkeyPatch, restore_path: None
) -> None:
    monkeypatch.setenv("LINKAGE_MATCH_KERNEL", "portable")
    assert set_kernel_path(None) == "portable"
    rng = np.random.default_rng(2)
    a = rng.integers(0, 2**63, size=(30, 16), dtype=np.int64).astype(np.uint64)
    assert dice_join(a, a, 0.5).as_tuples() == dice_join_reference(a, a, 0.5).as_tuples()
    monkeypatch.setenv("LINKAGE_MATCH_KERNEL", "fastest")
    with pytest.raises(ConfigError, match="'fastest' is not a kernel path"):
        set_kernel_path(None)
    assert kernel_path() == "portable"  # a refused setting changes nothing


@pytest.mark.unit
def test_each_path_has_its_layout() -> None:
    shapes = {name: (k.rows, k.lanes, k.split) for name, k in _kernels.JOIN_KERNELS.items()}
    assert shapes == {
        "vpopcnt512": (8, 8, False),
        "nibble": (4, 4, True),
        "portable": (4, 4, False),
    }


_SIMULATED = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    try:
        from numba import cuda
        simulator = cuda.is_available()
    except Exception as exc:
        json.dump({"simulator": False, "why": repr(exc)}, sys.stdout)
        raise SystemExit(0)
    from linkage.match import _cuda, dice_join, dice_self_join, kernel_path, set_kernel_path
    from linkage.errors import ResourceExhaustedError
    _cuda._FIRST_CAPACITY = 64  # the first launch overflows: exercise the exact rerun
    rng = np.random.default_rng(4)
    out = {"simulator": simulator, "path": set_kernel_path("cuda"), "joins": [], "selfs": []}
    for bits in (64, 1088):
        a = np.packbits(rng.random((20, bits)) < 0.35, axis=1).view(">u8").astype(np.uint64)
        b = a[rng.permutation(20)] ^ np.packbits(
            rng.random((20, bits)) < 0.04, axis=1).view(">u8").astype(np.uint64)
        b = np.vstack([b, np.zeros((1, bits // 64), np.uint64), a[:3]])
        a[4] = 0
        for threshold in (0.0, 0.6, 1.0):
            out["joins"].append(dice_join(a, b, threshold).as_tuples())
            out["selfs"].append(dice_self_join(b, threshold).as_tuples())
    try:
        dice_join(a, b, 0.0, max_pairs=100)
        out["bounded"] = False
    except ResourceExhaustedError:
        out["bounded"] = True
    out["k"] = dice_join(a, b, 0.5, k=2).as_tuples()  # top-k stays on the CPU
    json.dump(out, sys.stdout)
    """
)


@pytest.mark.integration
def test_cuda_path_gives_the_cpu_pairs_under_the_simulator() -> None:
    """The GPU kernel's logic, run by numba's CUDA simulator on the CPU: the same pairs,
    scores and order as the reference, for joins and self joins, at several lengths and
    thresholds, with an output buffer that overflows once and a ``max_pairs`` bound."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    env.pop("LINKAGE_MATCH_KERNEL", None)
    done = subprocess.run(
        [sys.executable, "-c", _SIMULATED], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    if not result["simulator"]:
        pytest.skip(f"numba's CUDA simulator cannot run here: {result.get('why')}")
    assert result["path"] == "cuda"
    rng = np.random.default_rng(4)
    index = 0
    for bits in (64, 1088):
        a = np.packbits(rng.random((20, bits)) < 0.35, axis=1).view(">u8").astype(np.uint64)
        b = a[rng.permutation(20)] ^ np.packbits(rng.random((20, bits)) < 0.04, axis=1).view(
            ">u8"
        ).astype(np.uint64)
        b = np.vstack([b, np.zeros((1, bits // 64), np.uint64), a[:3]])
        a[4] = 0
        for threshold in (0.0, 0.6, 1.0):
            expected = dice_join_reference(a, b, threshold).as_tuples()
            assert [tuple(p) for p in result["joins"][index]] == expected, (bits, threshold)
            expected_self = dice_self_join_reference(b, threshold).as_tuples()
            assert [tuple(p) for p in result["selfs"][index]] == expected_self, (bits, threshold)
            index += 1
    assert result["bounded"]
    assert [tuple(p) for p in result["k"]] == dice_join(a, b, 0.5, k=2).as_tuples()
    assert len(dice_self_join(b, 0.0)) == len(result["selfs"][-3])
