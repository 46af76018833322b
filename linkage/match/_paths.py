"""Which code path runs the Dice join: chosen once from the CPU numba compiles for, or forced.

Paths (all return the same pairs, scores and order; the kernels are in ``_kernels`` and
``_cuda``):

* ``vpopcnt512``: AVX-512 with VPOPCNTDQ (Intel Ice Lake and later, AMD Zen 4 and later):
  8 records per 512-bit vector, one ``vpopcntq`` per word of 8 comparisons.
* ``nibble``: AVX2 (x86-64 since Haswell / Zen 1): 4 records per 256-bit vector, nibble
  lookups with ``vpshufb``.
* ``portable``: any CPU numba runs on: 4 records per vector, the popcount left to LLVM.
* ``cuda``: an NVIDIA GPU through numba's CUDA target, for joins without ``k`` (top-k joins
  and lookups stay on the CPU). Never chosen by itself: only when asked for and a device is
  found.

By default (``auto``) the fastest CPU path the target has is taken: ``vpopcnt512``, else
``nibble``, else ``portable``. The setting ``LINKAGE_MATCH_KERNEL`` (environment) or
:func:`set_kernel_path` forces one; forcing a path this machine cannot run is an error that
says why (:class:`~linkage.errors.ConfigError`), never a silent fallback.

"The CPU numba compiles for" is the host's, or what ``NUMBA_CPU_NAME`` and
``NUMBA_CPU_FEATURES`` say (``NUMBA_CPU_NAME=generic`` means no optional features at all).
Reading the host's features and the environment is all this module does; the choice itself
is the pure :func:`choose_path`.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from linkage.errors import ConfigError

__all__ = [
    "AUTO",
    "CPU_PATHS",
    "KERNEL_ENV",
    "PATHS",
    "CpuTarget",
    "best_cpu_path",
    "choose_path",
    "compile_target",
    "cpu_join_path",
    "forced_kernel_path",
    "kernel_path",
    "parse_features",
    "path_problem",
    "path_problems",
    "set_kernel_path",
]

#: The environment variable that forces a path.
KERNEL_ENV = "LINKAGE_MATCH_KERNEL"
AUTO = "auto"
#: CPU paths, fastest first.
CPU_PATHS: tuple[str, ...] = ("vpopcnt512", "nibble", "portable")
CUDA = "cuda"
PATHS: tuple[str, ...] = (*CPU_PATHS, CUDA)

#: The LLVM features each CPU path needs to be worth running.
_NEEDS: dict[str, tuple[str, ...]] = {
    "vpopcnt512": ("avx512f", "avx512vpopcntdq"),
    "nibble": ("avx2",),
    "portable": (),
}


@dataclass(frozen=True, slots=True)
class CpuTarget:
    """The CPU the kernels are compiled for: LLVM's name and its enabled features."""

    name: str
    features: frozenset[str]


def parse_features(text: str) -> frozenset[str]:
    """The enabled features of an LLVM feature string (``"+avx2,-avx512f"`` -> ``{"avx2"}``)."""
    names = (part.strip() for part in text.split(","))
    return frozenset(name[1:] for name in names if name.startswith("+") and len(name) > 1)


@functools.cache
def compile_target() -> CpuTarget:
    """The CPU numba compiles for, as numba itself decides it (read once a process)."""
    import llvmlite.binding as llvm  # type: ignore[import-untyped]
    from numba.core import codegen, config

    name = getattr(config, "CPU_NAME", None) or llvm.get_host_cpu_name()
    features = getattr(config, "CPU_FEATURES", None)
    if features is None:
        host_features: Any = codegen.get_host_cpu_features  # honours NUMBA_ENABLE_AVX
        features = host_features()
    return CpuTarget(str(name), parse_features(str(features)))


def path_problem(
    path: str, target: CpuTarget, cuda_problem: Callable[[], str | None]
) -> str | None:
    """Why ``path`` cannot run on ``target`` (a sentence), or ``None`` when it can.

    ``cuda_problem`` is only called for the ``cuda`` path (it may import numba's CUDA target).
    """
    if path == CUDA:
        return cuda_problem()
    if path not in _NEEDS:
        return f"{path!r} is not a kernel path (one of {', '.join(PATHS)})"
    lacking = [feature for feature in _NEEDS[path] if feature not in target.features]
    if lacking:
        return f"the CPU numba compiles for ({target.name}) lacks {', '.join(lacking)}"
    return None


def best_cpu_path(target: CpuTarget) -> str:
    """The fastest CPU path ``target`` can run."""
    for path in CPU_PATHS:
        if path_problem(path, target, lambda: None) is None:
            return path
    raise AssertionError("the portable path runs everywhere")  # pragma: no cover


def choose_path(
    setting: str | None, target: CpuTarget, cuda_problem: Callable[[], str | None]
) -> str:
    """The path a setting asks for on ``target``: ``None``, ``""`` or ``"auto"`` picks the
    fastest CPU path; a path name forces it, or raises :class:`ConfigError` saying why it
    cannot run here."""
    value = (setting or AUTO).strip().lower() or AUTO
    if value == AUTO:
        return best_cpu_path(target)
    if value not in PATHS:
        raise ConfigError(
            f"{KERNEL_ENV}={setting!r} is not a kernel path: use {AUTO}, {', '.join(PATHS)}"
        )
    problem = path_problem(value, target, cuda_problem)
    if problem is not None:
        raise ConfigError(f"{KERNEL_ENV}={value} cannot run here: {problem}")
    return value


def path_problems() -> dict[str, str | None]:
    """Every path and why it cannot run on this machine (``None``: it can)."""
    from linkage.match._cuda import cuda_problem

    target = compile_target()
    return {path: path_problem(path, target, cuda_problem) for path in PATHS}


_lock = threading.Lock()
_active: str | None = None


def set_kernel_path(path: str | None) -> str:
    """Force a path for this process (``None`` or ``"auto"``: choose again from
    ``LINKAGE_MATCH_KERNEL`` and the CPU). Returns the path now in force."""
    from linkage.match._cuda import cuda_problem

    global _active
    setting = os.environ.get(KERNEL_ENV) if path is None else path
    chosen = choose_path(setting, compile_target(), cuda_problem)
    with _lock:
        _active = chosen
    return chosen


def kernel_path() -> str:
    """The path in force, chosen at the first join from ``LINKAGE_MATCH_KERNEL``."""
    active = _active
    if active is None:
        return set_kernel_path(None)
    return active


def cpu_join_path() -> str:
    """The CPU path in force: the chosen one, or the fastest CPU path when it is ``cuda``
    (top-k joins and lookups run on the CPU)."""
    path = kernel_path()
    return best_cpu_path(compile_target()) if path == CUDA else path


@contextmanager
def forced_kernel_path(path: str) -> Iterator[str]:
    """Run a block with ``path`` forced (tests and benchmarks), then restore the path that
    was in force before."""
    global _active
    with _lock:
        previous = _active
    chosen = set_kernel_path(path)
    try:
        yield chosen
    finally:
        with _lock:
            _active = previous
