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

Queries arrive as clean feature values, so the export's ``transforms``, ``name_part`` and
``date_format`` are not applied (a query's date is ``YYYY-MM-DD``). What decides whether a
value reads as missing is: the feature's declared ``missing_values`` and the built-in
placeholders (``builtin_placeholders``), exactly as for the export, so a query's
``UNKNOWN``, ``JOHN DOE`` or ``1900-01-01`` never agrees with an export's. A required
field (name, date of birth) that is a placeholder is refused with that reason: a lookup
on placeholders would be answered by whichever record shares the other details.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Final

from agency_client._config import DEFAULT_NORMALISERS, AgencyConfig, FeatureSource
from agency_client._mapping import EncodeChunkWorker
from linkage.encode import IgnoredFeature
from linkage.errors import InvalidInputError, Problem

__all__ = ["ONE_OF_FIELDS", "REQUIRED_FIELDS", "QueryEncoder"]

#: A query needs the person's names ...
REQUIRED_FIELDS: Final = ("given_name", "surname")
#: ... and at least one of these (a responder does not always know the date of birth; the
#: matcher never answers through a record whose given name or date of birth disagrees).
ONE_OF_FIELDS: Final = ("date_of_birth", "phone", "street_address")
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
            # What decides "missing" comes from the agency's own mapping; transforms,
            # name_part and date_format are for export columns, not for clean query values.
            missing_values = own.missing_values if own is not None else ()
            builtin = own.builtin_placeholders if own is not None else True
            if normaliser == "date" or name == "date_of_birth":
                sources.append(
                    FeatureSource(
                        name,
                        (name,),
                        "date",
                        date_format="ISO",
                        missing_values=missing_values,
                        builtin_placeholders=builtin,
                    )
                )
            else:
                sources.append(
                    FeatureSource(
                        name,
                        (name,),
                        normaliser,
                        keep_last=own.keep_last if own is not None else None,
                        missing_values=missing_values,
                        builtin_placeholders=builtin,
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
        required = [
            name
            for name in REQUIRED_FIELDS
            if name in self.fields and not str(query.get(name) or "").strip()
        ]
        problems.extend(Problem(name, "is required") for name in required)
        wanted = [name for name in ONE_OF_FIELDS if name in self.fields]
        if wanted and not any(str(query.get(name) or "").strip() for name in wanted):
            problems.append(
                Problem(
                    wanted[0],
                    "is required unless a "
                    + " or ".join(n.replace("_", " ") for n in wanted[1:])
                    + " is given",
                )
            )
        explained = self._worker.mapper.explain_row(row)
        if not isinstance(explained, str):
            problems.extend(
                Problem(
                    outcome.feature,
                    "is a placeholder (such as UNKNOWN, JOHN DOE or 1900-01-01), which "
                    "never counts as agreement; give the person's own details",
                )
                for outcome in explained
                if outcome.feature in (*REQUIRED_FIELDS, "date_of_birth")
                and outcome.feature not in required
                and outcome.status in ("placeholder", "declared")
            )
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
