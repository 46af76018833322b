"""Encode one responder query with the agency's schema and secret, normalised like an export.

The gateway accepts schema features by name (``given_name``, ``surname``,
``date_of_birth`` as YYYY-MM-DD, ``sex``, ``phone``, ``street_address``, ...). It
builds a column mapping in which each feature is its own column, with the
normaliser (and phone ``keep_last``) of the agency's own mapping, and runs it
through the same :class:`~agency_client._mapping.RowMapper` and
:class:`~linkage.encode.ClkEncoder` (or, for a schema with a ``segments`` block,
:class:`~linkage.encode.SegmentedEncoder`: same secret and key epoch) as
``agency-client encode``, so the matcher compares the query with what was uploaded.
Problems name fields, never values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Final

from agency_client._config import DEFAULT_NORMALISERS, AgencyConfig, FeatureSource
from agency_client._mapping import EncodeChunkWorker
from linkage.encode import IgnoredFeature
from linkage.errors import InvalidInputError, Problem

__all__ = ["REQUIRED_FIELDS", "QueryEncoder"]

#: A query needs at least a name and a date of birth.
REQUIRED_FIELDS: Final = ("given_name", "surname", "date_of_birth")
_MAX_VALUE_CHARS: Final = 200


class QueryEncoder:
    """Encodes query dictionaries to CLK bytes; warm (keys derived once), thread-safe."""

    def __init__(self, config: AgencyConfig) -> None:
        mapped = {source.feature: source for source in config.features}
        sources: list[FeatureSource] = []
        for feature in config.schema.features:
            if isinstance(feature, IgnoredFeature):
                continue
            name = feature.identifier
            own = mapped.get(name)
            normaliser = (
                own.normaliser if own is not None else DEFAULT_NORMALISERS.get(name, "text")
            )
            if normaliser == "date" or name == "date_of_birth":
                sources.append(FeatureSource(name, (name,), "date", date_format="ISO"))
            else:
                sources.append(
                    FeatureSource(
                        name,
                        (name,),
                        normaliser,
                        keep_last=own.keep_last if own is not None else None,
                    )
                )
        self.fields: tuple[str, ...] = tuple(source.feature for source in sources)
        gateway_config = dataclasses.replace(config, features=tuple(sources), record_key=None)
        # The export path's own per-chunk worker: the same mapping, normalisation and
        # encoder construction (secret, key epoch, hardening) as agency-client encode.
        self._worker = EncodeChunkWorker(gateway_config, self.fields)

    def encode(self, query: Mapping[str, object]) -> bytes:
        """The CLK of a query; ``InvalidInputError`` names each bad field."""
        problems: list[Problem] = []
        for name in query:
            if name not in self.fields:
                problems.append(Problem(name, "is not a field of the linkage schema"))
        row: list[str] = []
        for name in self.fields:
            value = query.get(name, "")
            if value is None:
                value = ""
            if not isinstance(value, str):
                problems.append(Problem(name, "must be text"))
                value = ""
            if len(value) > _MAX_VALUE_CHARS:
                problems.append(Problem(name, f"is longer than {_MAX_VALUE_CHARS} characters"))
                value = ""
            row.append(value)
        for name in REQUIRED_FIELDS:
            if name in self.fields and not str(query.get(name) or "").strip():
                problems.append(Problem(name, "is required"))
        result = self._worker((1, [row]))
        problems.extend(
            Problem(p.location.split("column ", 1)[-1], p.reason.split(";")[0])
            for p in result.problems
        )
        if problems or not result.row_numbers:
            raise InvalidInputError(
                "the query is incomplete or invalid",
                problems=problems or [Problem("query", "cannot be encoded")],
            )
        return bytes(result.clks[0].tobytes())
