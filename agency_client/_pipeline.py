"""Encode an agency export end to end: CSV -> mapping and normalisation -> CLKs -> output file.

Streams: the CSV is read in chunks, chunks are normalised and encoded on all cores
(results in input order), and records are written as they come, so memory does not
grow with the input. The output appears only when complete (temp file + rename).
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import numpy as np

from agency_client._clkfile import ClkBatch, ClkFileHeader, open_writer
from agency_client._config import AgencyConfig
from agency_client._csvlines import bounded_lines
from agency_client._mapping import ChunkResult, EncodeWorkerFactory, RowMapper
from linkage.encode import map_ordered
from linkage.errors import InvalidInputError, Problem, RowError
from linkage.types import Int64Array

__all__ = ["EncodeReport", "encode_export"]

DEFAULT_CHUNK_ROWS: Final = 4096
#: How many individual problems a report keeps (all are counted).
MAX_KEPT_PROBLEMS: Final = 1000


@dataclass(frozen=True, slots=True)
class EncodeReport:
    """What an encode run did (no values, only counts, row numbers and columns)."""

    output: Path
    output_format: str
    schema_fingerprint: str
    key_epoch: int
    rows_read: int
    rows_encoded: int
    rows_skipped: int
    problems: tuple[Problem, ...]
    values_treated_as_missing: int
    substitutions: tuple[Problem, ...]
    seconds: float


def _chunks(
    reader: Iterator[list[str]], chunk_rows: int, source_name: str
) -> Iterator[tuple[int, list[list[str]]]]:
    number = 1
    while True:
        rows: list[list[str]] = []
        try:
            for row in reader:
                rows.append(row)
                if len(rows) >= chunk_rows:
                    break
        except csv.Error as exc:
            raise InvalidInputError(
                f"{source_name}: the CSV cannot be parsed near data row {number + len(rows)}: {exc}"
            ) from None
        if not rows:
            return
        yield number, rows
        number += len(rows)


def encode_export(
    config: AgencyConfig,
    input_path: Path,
    output_path: Path,
    *,
    strict: bool = False,
    workers: int | None = None,
    output_format: Literal["clk", "clkhash-json"] | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Callable[[int], object] | None = None,
) -> EncodeReport:
    """Encode ``input_path`` (CSV with a header) into ``output_path``.

    Bad rows are skipped and reported (row number, column, reason); with ``strict``
    the first bad row fails the run after all rows are checked, and nothing is written.

    :raises RowError: in strict mode, listing the bad rows.
    :raises ConfigError: if the header lacks a mapped column.
    """
    started = time.perf_counter()
    chosen_format = output_format or config.output_format
    fingerprint = config.encoding_schema.fingerprint
    header = ClkFileHeader(
        schema_fingerprint=fingerprint,
        key_epoch=config.key_epoch,
        clk_bits=config.encoding_schema.clk_bits,
        record_key_column=config.record_key,
    )
    if not output_path.parent.is_dir():
        raise InvalidInputError(f"the output folder of {output_path.name} does not exist")
    try:
        source = input_path.open(newline="", encoding=config.encoding)
    except OSError as exc:
        raise InvalidInputError(f"cannot read {input_path.name}: {exc.strerror}") from None
    problems: list[Problem] = []
    substitutions: list[Problem] = []
    problem_count = substitution_count = rows_read = 0
    with source:
        reader = csv.reader(bounded_lines(source, input_path.name), delimiter=config.delimiter)
        try:
            columns = next(reader)
        except StopIteration:
            raise InvalidInputError(f"{input_path.name} is empty (no header row)") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InvalidInputError(
                f"{input_path.name}: the header cannot be read: {exc}"
            ) from None
        RowMapper(config, columns)  # fails early, in this process, on missing columns
        writer = open_writer(output_path, chosen_format, header)
        try:
            factory = EncodeWorkerFactory(config, tuple(columns))
            chunks = _chunks(reader, chunk_rows, input_path.name)
            result: ChunkResult
            for result in map_ordered(factory, chunks, workers=workers):
                rows_read += len(result.row_numbers) + _bad_rows(result)
                problem_count += len(result.problems)
                substitution_count += len(result.substitutions)
                problems.extend(result.problems[: max(0, MAX_KEPT_PROBLEMS - len(problems))])
                substitutions.extend(
                    result.substitutions[: max(0, MAX_KEPT_PROBLEMS - len(substitutions))]
                )
                if not (strict and problem_count):
                    writer.write(
                        ClkBatch(
                            row_numbers=_as_int64(result.row_numbers),
                            record_keys=(
                                tuple(result.record_keys)
                                if result.record_keys is not None
                                else None
                            ),
                            clks=result.clks,
                        )
                    )
                if progress is not None:
                    progress(len(result.row_numbers) + _bad_rows(result))
        except UnicodeDecodeError:
            writer.abort()
            raise InvalidInputError(
                f"{input_path.name} is not valid {config.encoding} text"
            ) from None
        except BaseException:
            writer.abort()
            raise
        bad_rows = rows_read - writer.count if not (strict and problem_count) else 0
        if strict and problem_count:
            writer.abort()
            raise RowError(
                f"{input_path.name} has invalid rows (--strict: nothing was written); "
                f"{problem_count} problems, the first {min(problem_count, 50)} listed",
                problems=problems[:50],
            )
        writer.commit()
    return EncodeReport(
        output=output_path,
        output_format=chosen_format,
        schema_fingerprint=fingerprint,
        key_epoch=config.key_epoch,
        rows_read=rows_read,
        rows_encoded=writer.count,
        rows_skipped=bad_rows,
        problems=tuple(problems),
        values_treated_as_missing=substitution_count,
        substitutions=tuple(substitutions),
        seconds=time.perf_counter() - started,
    )


def _bad_rows(result: ChunkResult) -> int:
    return _count_bad_rows(result.problems)


def _count_bad_rows(problems: list[Problem]) -> int:
    return len({p.location.split(",")[0] for p in problems})


def _as_int64(values: list[int]) -> Int64Array:
    return np.asarray(values, dtype=np.int64)
