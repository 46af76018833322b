"""The per-agency configuration file (``agency.toml``): frozen dataclasses and their loader.

Example (every key is documented in agency_client/samples/agency.toml)::

    [agency]
    name = "Valley Mental Health Centre"
    key_epoch = 1

    [secret]
    file = "linkage-secret.key"     # or: env = "LINKAGE_SECRET"; never on the command line

    [schema]
    file = "default"                # the shipped (hardened) person schema, "plain" for the
                                    # clkhash-compatible one, "default-segmented" for the
                                    # default with per-field segments, or a path to a schema
                                    # file (with or without a "segments" block)

    [input]
    delimiter = ","
    encoding = "utf-8-sig"
    record_key = "client_id"        # optional agency-local record key column

    [features.surname]
    column = "full_name"
    name_part = "last"              # from "LAST, FIRST M"

    [features.date_of_birth]
    column = "dob"
    date_format = "MM/DD/YYYY"      # declared, never guessed
    missing_values = ["99/99/9999"] # this export's own "unknown" codes

    [features.postcode]
    column = "zip"
    transforms = [{ op = "keep_first", characters = 5 }]   # ZIP+4 -> ZIP

Transforms (split, match, join, first_non_empty, substring, keep_first, map) are in
:mod:`agency_client._transforms`; the built-in placeholders that read as missing
(``builtin_placeholders``, default true) in :mod:`linkage.encode._placeholders`.

:func:`load_agency_config` takes the environment as an argument (tests never patch
``os.environ``); relative paths are resolved against the config file's folder.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, TypeAlias

from agency_client._encoding import (
    BUILTIN_SCHEMA_NAMES,
    DEFAULT_SCHEMA_NAME,
    DEFAULT_SEGMENTED_SCHEMA_NAME,
    PLAIN_SCHEMA_NAME,
    EncodingSchema,
    builtin_encoding_schema,
    load_encoding_schema_file,
)
from agency_client._transforms import (
    FirstNonEmpty,
    Join,
    Transform,
    parse_patterns,
    parse_transforms,
    unknown_key_reason,
)
from linkage.channel import private_file_problem
from linkage.encode import DATE_FORMATS, MIN_SECRET_BYTES, LinkageSchema, fold_text, load_schema
from linkage.errors import ConfigError, Problem, SchemaError

__all__ = [
    "BUILTIN_SCHEMA_NAMES",
    "DEFAULT_SCHEMA_NAME",
    "DEFAULT_SEGMENTED_SCHEMA_NAME",
    "FEATURE_KEYS",
    "PLAIN_SCHEMA_NAME",
    "AgencyConfig",
    "FeatureSource",
    "LinkageSecret",
    "Normaliser",
    "OutputFormat",
    "load_agency_config",
    "load_schema_file",
]

Normaliser: TypeAlias = Literal["name", "text", "date", "sex", "phone", "digits", "postcode", "raw"]
NamePart: TypeAlias = Literal["first", "middle", "last"]
OutputFormat: TypeAlias = Literal["clk", "clkhash-json"]
OnInvalid: TypeAlias = Literal["reject", "missing"]

_NORMALISERS: Final[tuple[Normaliser, ...]] = (
    "name",
    "text",
    "date",
    "sex",
    "phone",
    "digits",
    "postcode",
    "raw",
)
#: The normaliser a feature gets when its config does not name one.
DEFAULT_NORMALISERS: Final[dict[str, Normaliser]] = {
    "given_name": "name",
    "middle_name": "name",
    "surname": "name",
    "street_address": "name",
    "address_line_2": "name",
    "suburb": "name",
    "state": "name",
    "date_of_birth": "date",
    "sex": "sex",
    "phone": "phone",
    "postcode": "postcode",
}
_DATE_FORMAT_LIST: Final = ", ".join((*DATE_FORMATS, "ISO"))
#: The keys of a ``[features.NAME]`` table.
FEATURE_KEYS: Final = (
    "column",
    "columns",
    "transforms",
    "name_part",
    "normalise",
    "date_format",
    "keep_last",
    "missing_values",
    "builtin_placeholders",
    "on_invalid",
)
#: Tables of agency.toml that the upload/consent/gateway workflow reads (see _client_config).
WORKFLOW_TABLES: Final = ("matcher", "pointer", "state", "consent", "gateway")


class LinkageSecret:
    """The linkage secret; its value never appears in ``repr`` or ``str``."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        if len(value) < MIN_SECRET_BYTES:
            raise ConfigError(
                f"the linkage secret is shorter than {MIN_SECRET_BYTES} bytes (128 bits); "
                "refusing to encode with it"
            )
        self._value = value

    def reveal(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return f"LinkageSecret(<{len(self._value)} bytes>)"

    __str__ = __repr__

    def __reduce__(self) -> tuple[type[LinkageSecret], tuple[bytes]]:
        return (LinkageSecret, (self._value,))


@dataclass(frozen=True, slots=True)
class FeatureSource:
    """Where one schema feature comes from in the export, and how it is normalised.

    The cells of ``columns`` go through ``transforms`` in order, then ``name_part``, then
    the normaliser. A cell or a transformed value equal to one of ``missing_values``
    (stored folded: case, accents and spaces ignored) is missing; with
    ``builtin_placeholders`` so is a built-in placeholder (``linkage.encode._placeholders``).
    """

    feature: str
    columns: tuple[str, ...]
    normaliser: Normaliser
    date_format: str | None = None
    name_part: NamePart | None = None
    keep_last: int | None = None
    on_invalid: OnInvalid = "reject"
    transforms: tuple[Transform, ...] = ()
    missing_values: tuple[str, ...] = ()
    builtin_placeholders: bool = True

    def __post_init__(self) -> None:
        where = f"features.{self.feature}"
        if not self.columns:
            raise ConfigError("invalid feature mapping", problems=[Problem(where, "no column")])
        if self.normaliser == "date" and self.date_format is None:
            raise ConfigError(
                "invalid feature mapping",
                problems=[
                    Problem(
                        f"{where}.date_format",
                        "dates need a declared date_format (one of " + _DATE_FORMAT_LIST + ")",
                    )
                ],
            )
        if self.date_format is not None and self.date_format not in (*DATE_FORMATS, "ISO"):
            raise ConfigError(
                "invalid feature mapping",
                problems=[Problem(f"{where}.date_format", "must be one of " + _DATE_FORMAT_LIST)],
            )
        combines = any(isinstance(step, Join | FirstNonEmpty) for step in self.transforms)
        if self.name_part is not None and len(self.columns) != 1 and not combines:
            raise ConfigError(
                "invalid feature mapping",
                problems=[
                    Problem(
                        f"{where}.name_part",
                        "needs exactly one column (or a join / first_non_empty transform)",
                    )
                ],
            )
        if self.keep_last is not None and self.keep_last < 1:
            raise ConfigError(
                "invalid feature mapping",
                problems=[Problem(f"{where}.keep_last", "must be >= 1")],
            )


@dataclass(frozen=True, slots=True)
class AgencyConfig:
    """An agency's encoding configuration, validated on construction."""

    path: Path
    agency_name: str
    key_epoch: int
    secret: LinkageSecret = field(repr=False)
    encoding_schema: EncodingSchema = field(repr=False)
    schema_source: str
    features: tuple[FeatureSource, ...]
    delimiter: str = ","
    encoding: str = "utf-8-sig"
    record_key: str | None = None
    output_format: OutputFormat = "clk"

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        if self.key_epoch < 0:
            problems.append(Problem("agency.key_epoch", "must be >= 0"))
        if len(self.delimiter) != 1:
            problems.append(Problem("input.delimiter", "must be one character"))
        known = set(self.schema.identifiers)
        seen: set[str] = set()
        for source in self.features:
            if source.feature not in known:
                problems.append(
                    Problem(f"features.{source.feature}", "is not a feature of the schema")
                )
            if source.feature in seen:
                problems.append(Problem(f"features.{source.feature}", "is mapped twice"))
            seen.add(source.feature)
        if problems:
            raise ConfigError(f"{self.path.name} is invalid", problems=problems)

    @property
    def schema(self) -> LinkageSchema:
        """The record-level schema: the features, their validation and the record CLK."""
        return self.encoding_schema.schema

    @property
    def columns(self) -> tuple[str, ...]:
        """Every source column the mapping reads (record key included), without repeats."""
        names: list[str] = []
        if self.record_key is not None:
            names.append(self.record_key)
        for source in self.features:
            names.extend(c for c in source.columns if c not in names)
        return tuple(names)


def load_schema_file(path: Path) -> LinkageSchema:
    """Read and validate a record-level schema v3 file, plain or hardened (``SchemaError``
    names JSON paths). Files with a ``segments`` block: :func:`load_encoding_schema_file`."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the schema file {path.name}: {exc.strerror}") from None
    return load_schema(text)


def load_agency_config(path: Path, environ: Mapping[str, str]) -> AgencyConfig:
    """Load ``agency.toml``; the secret comes from the file or environment variable it names.

    :raises ConfigError: naming every problem (keys, never values or secrets).
    """
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        hint = ""
        if isinstance(exc, FileNotFoundError) and path == Path("agency.toml"):
            hint = " (pass --config site/agency.toml or set AGENCY_CLIENT_CONFIG)"
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror}{hint}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    problems: list[Problem] = []
    base = path.resolve().parent

    def table(parent: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        value = parent.get(key, {})
        if not isinstance(value, dict):
            problems.append(Problem(key, "must be a table"))
            return {}
        problems.extend(
            Problem(f"{key}.{k}", unknown_key_reason(k, allowed, f"[{key}]"))
            for k in value
            if k not in allowed
        )
        return value

    known_tables = ("agency", "secret", "schema", "input", "output", "features", *WORKFLOW_TABLES)
    problems.extend(
        Problem(k, unknown_key_reason(k, known_tables, "agency.toml").replace("key", "table", 1))
        for k in document
        if k not in known_tables
    )
    # agency.id and the workflow tables are read by agency_client._client_config.
    agency = table(document, "agency", ("id", "name", "key_epoch"))
    secret_table = table(document, "secret", ("file", "env"))
    schema_table = table(document, "schema", ("file",))
    input_table = table(document, "input", ("delimiter", "encoding", "record_key", "patterns"))
    output_table = table(document, "output", ("format",))
    features_table = document.get("features", {})

    name = _get(agency, "name", str, "agency.name", problems, default="agency")
    epoch = _get(agency, "key_epoch", int, "agency.key_epoch", problems, default=1)

    secret = _load_secret(secret_table, base, environ, problems)

    schema: EncodingSchema | None = None
    schema_source = _get(
        schema_table, "file", str, "schema.file", problems, default=DEFAULT_SCHEMA_NAME
    )
    if schema_source in BUILTIN_SCHEMA_NAMES:
        schema = builtin_encoding_schema(schema_source)
    elif schema_source:
        try:
            schema = load_encoding_schema_file(base / schema_source)
        except (SchemaError, ConfigError) as exc:
            problems.append(Problem("schema.file", exc.message))
            problems.extend(exc.problems)
    else:
        problems.append(
            Problem(
                "schema.file",
                "must name a built-in schema ("
                + ", ".join(BUILTIN_SCHEMA_NAMES)
                + ") or a schema file",
            )
        )

    delimiter = _get(input_table, "delimiter", str, "input.delimiter", problems, default=",")
    encoding = _get(input_table, "encoding", str, "input.encoding", problems, default="utf-8-sig")
    try:
        "".encode(encoding)
    except LookupError:
        problems.append(Problem("input.encoding", "unknown text encoding"))
    record_key = _get(input_table, "record_key", str, "input.record_key", problems, default=None)
    output_format = _get(output_table, "format", str, "output.format", problems, default="clk")
    if output_format not in ("clk", "clkhash-json"):
        problems.append(Problem("output.format", "must be clk or clkhash-json"))

    patterns = parse_patterns(input_table.get("patterns", {}), problems)

    sources: list[FeatureSource] = []
    if not isinstance(features_table, dict):
        problems.append(Problem("features", "must be a table of feature tables"))
    else:
        for feature, spec in features_table.items():
            try:
                source = _feature_source(feature, spec, patterns, problems)
            except ConfigError as exc:
                problems.extend(exc.problems)
                continue
            if source is not None:
                sources.append(source)
        if not sources and not problems:
            problems.append(Problem("features", "maps no feature to a column"))

    if problems or secret is None or schema is None:
        raise ConfigError(f"{path.name} is invalid", problems=problems)
    return AgencyConfig(
        path=path,
        agency_name=str(name),
        key_epoch=int(epoch),
        secret=secret,
        encoding_schema=schema,
        schema_source=str(schema_source),
        features=tuple(sources),
        delimiter=str(delimiter),
        encoding=str(encoding),
        record_key=record_key,
        output_format="clkhash-json" if output_format == "clkhash-json" else "clk",
    )


def _get(
    table: Mapping[str, Any],
    key: str,
    kind: type,
    where: str,
    problems: list[Problem],
    *,
    default: Any,
) -> Any:
    if key not in table:
        return default
    value = table[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        problems.append(Problem(where, f"must be {'an integer' if kind is int else 'a string'}"))
        return default
    return value


def _load_secret(
    table: Mapping[str, Any], base: Path, environ: Mapping[str, str], problems: list[Problem]
) -> LinkageSecret | None:
    has_file, has_env = "file" in table, "env" in table
    if has_file == has_env:
        problems.append(Problem("secret", "name exactly one of file or env"))
        return None
    raw: bytes
    if has_file:
        file_name = table["file"]
        if not isinstance(file_name, str) or not file_name:
            problems.append(Problem("secret.file", "must be a path"))
            return None
        path = base / file_name
        try:
            raw = path.read_bytes()
            too_open = private_file_problem(path, "linkage secret")
        except OSError as exc:
            problems.append(Problem("secret.file", f"cannot be read: {exc.strerror}"))
            return None
        if too_open is not None:
            problems.append(Problem("secret.file", f"{too_open}; or name it by [secret] env"))
            return None
        raw = raw.rstrip(b"\r\n")
    else:
        variable = table["env"]
        if not isinstance(variable, str) or not variable:
            problems.append(Problem("secret.env", "must name an environment variable"))
            return None
        if variable not in environ:
            problems.append(Problem("secret.env", "the named environment variable is not set"))
            return None
        raw = environ[variable].encode("utf-8")
    try:
        return LinkageSecret(raw)
    except ConfigError as exc:
        problems.append(Problem("secret", exc.message))
        return None


def _feature_source(
    feature: str, spec: object, patterns: Mapping[str, re.Pattern[str]], problems: list[Problem]
) -> FeatureSource | None:
    where = f"features.{feature}"
    if not isinstance(spec, dict):
        problems.append(Problem(where, "must be a table"))
        return None
    before = len(problems)
    problems.extend(
        Problem(f"{where}.{k}", unknown_key_reason(k, FEATURE_KEYS, "a feature table"))
        for k in spec
        if k not in FEATURE_KEYS
    )
    columns: tuple[str, ...] = ()
    if ("column" in spec) == ("columns" in spec):
        problems.append(
            Problem(
                where,
                'name exactly one of column = "NAME" or columns = ["NAME", ...] '
                "(the export's column, or several)",
            )
        )
    elif "column" in spec:
        if isinstance(spec["column"], str) and spec["column"]:
            columns = (spec["column"],)
        else:
            problems.append(Problem(f"{where}.column", "must be a column name"))
    else:
        value = spec["columns"]
        if isinstance(value, list) and value and all(isinstance(c, str) and c for c in value):
            columns = tuple(value)
        else:
            problems.append(Problem(f"{where}.columns", "must be a list of column names"))
    normaliser = spec.get("normalise", DEFAULT_NORMALISERS.get(feature, "text"))
    if normaliser not in _NORMALISERS:
        problems.append(Problem(f"{where}.normalise", "must be one of " + ", ".join(_NORMALISERS)))
    name_part = spec.get("name_part")
    if name_part is not None and name_part not in ("first", "middle", "last"):
        problems.append(
            Problem(
                f"{where}.name_part",
                "must be first, middle or last (of a 'LAST, FIRST MIDDLE' value)",
            )
        )
    on_invalid = spec.get("on_invalid", "reject")
    if on_invalid not in ("reject", "missing"):
        problems.append(
            Problem(
                f"{where}.on_invalid",
                "must be reject (skip the row) or missing (encode the row without this value)",
            )
        )
    date_format = _get(spec, "date_format", str, f"{where}.date_format", problems, default=None)
    keep_last = _get(spec, "keep_last", int, f"{where}.keep_last", problems, default=None)
    transforms = parse_transforms(
        spec.get("transforms", []), f"{where}.transforms", patterns, problems
    )
    missing_values: tuple[str, ...] = ()
    declared = spec.get("missing_values", [])
    if isinstance(declared, list) and all(isinstance(v, str) for v in declared):
        missing_values = tuple(dict.fromkeys(fold_text(v) for v in declared if fold_text(v)))
    else:
        problems.append(
            Problem(
                f"{where}.missing_values",
                'must be a list of strings, e.g. missing_values = ["UNKNOWN", "N/A"]',
            )
        )
    builtin = spec.get("builtin_placeholders", True)
    if not isinstance(builtin, bool):
        problems.append(
            Problem(
                f"{where}.builtin_placeholders",
                "must be true (read the built-in placeholders as missing) or false",
            )
        )
    if len(problems) != before:
        return None
    return FeatureSource(
        feature=feature,
        columns=columns,
        normaliser=normaliser,
        date_format=date_format,
        name_part=name_part,
        keep_last=keep_last,
        on_invalid=on_invalid,
        transforms=transforms,
        missing_values=missing_values,
        builtin_placeholders=bool(builtin),
    )
