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

The file is parsed once (:func:`read_agency_toml`) and validated by one pydantic model per
table (:class:`AgencyToml`; the workflow commands use :class:`ClientToml`, which also
requires ``agency.id`` and ``[matcher]``): unknown keys and tables are errors named with the
closest valid key, every problem is reported at once by its dotted path. The domain objects
built from it (:class:`AgencyConfig`, :class:`FeatureSource`) check the values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Final

from agency_client._encoding import (
    BUILTIN_SCHEMA_NAMES,
    DEFAULT_SCHEMA_NAME,
    DEFAULT_SEGMENTED_SCHEMA_NAME,
    PLAIN_SCHEMA_NAME,
    EncodingSchema,
    builtin_encoding_schema,
    load_encoding_schema_file,
)
from agency_client._tables import (
    FEATURE_KEYS,
    AgencyToml,
    FeatureTable,
    NamePart,
    Normaliser,
    OnInvalid,
    OutputFormat,
    SecretTable,
    read_agency_toml,
)
from agency_client._transforms import (
    FirstNonEmpty,
    Join,
    Transform,
    parse_patterns,
    parse_transforms,
)
from linkage.channel import private_file_problem
from linkage.encode import DATE_FORMATS, MIN_SECRET_BYTES, LinkageSchema, fold_text, load_schema
from linkage.errors import ConfigError, Problem, SchemaError
from linkage.limited_read import MAX_SCHEMA_BYTES, read_limited
from linkage.validation import Findings, check

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
    "agency_config_from",
    "load_agency_config",
    "load_schema_file",
    "load_secret",
]

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
#: a linkage secret file is one line of hex or base64; anything longer is the wrong file
_MAX_SECRET_FILE_BYTES: Final = 4096
_DATE_FORMAT_LIST: Final = ", ".join((*DATE_FORMATS, "ISO"))


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
        text = read_limited(path, MAX_SCHEMA_BYTES, "the schema file")
    except OSError as exc:
        raise ConfigError(f"cannot read the schema file {path.name}: {exc.strerror}") from None
    return load_schema(text)


# -- from the tables to the domain objects ----------------------------------------------


def load_agency_config(path: Path, environ: Mapping[str, str]) -> AgencyConfig:
    """Load ``agency.toml``; the secret comes from the file or environment variable it names.

    :raises ConfigError: naming every problem (keys, never values or secrets).
    """
    document, problems = check(AgencyToml, read_agency_toml(path))
    findings = Findings(problems)
    config = None if document is None else agency_config_from(document, path, environ, findings)
    if findings or config is None:
        raise ConfigError(f"{path.name} is invalid", problems=findings.problems)
    return config


def agency_config_from(
    document: AgencyToml, path: Path, environ: Mapping[str, str], findings: Findings
) -> AgencyConfig | None:
    """The encoding half of a validated ``agency.toml`` (``None`` with its problems added
    to ``findings`` when it is invalid)."""
    base = path.resolve().parent
    secret = load_secret(document.secret, base, environ, findings)
    schema = _load_encoding_schema(document.schema_.file, base, findings)
    source = document.input
    try:
        "".encode(source.encoding)
    except LookupError:
        findings.add(Problem("input.encoding", "unknown text encoding"))
    pattern_problems: list[Problem] = []
    patterns = parse_patterns(source.patterns, pattern_problems)
    findings.extend(pattern_problems)
    sources: list[FeatureSource] = []
    failed = False
    for feature, table in document.features.items():
        step_problems: list[Problem] = []
        transforms = parse_transforms(
            table.transforms, f"features.{feature}.transforms", patterns, step_problems
        )
        findings.extend(step_problems)
        built = (
            None
            if step_problems
            else findings.build(partial(_feature_source, feature, table, transforms))
        )
        if built is None:
            failed = True
        else:
            sources.append(built)
    if not document.features and not findings:
        findings.add(Problem("features", "maps no feature to a column"))
    if secret is None or schema is None or failed or not sources:
        return None
    agency = document.agency
    return findings.build(
        lambda: AgencyConfig(
            path=path,
            agency_name=agency.name,
            key_epoch=agency.key_epoch,
            secret=secret,
            encoding_schema=schema,
            schema_source=document.schema_.file,
            features=tuple(sources),
            delimiter=source.delimiter,
            encoding=source.encoding,
            record_key=source.record_key,
            output_format=document.output.format,
        )
    )


def _load_encoding_schema(source: str, base: Path, findings: Findings) -> EncodingSchema | None:
    if source in BUILTIN_SCHEMA_NAMES:
        return builtin_encoding_schema(source)
    try:
        return load_encoding_schema_file(base / source)
    except (SchemaError, ConfigError) as exc:
        findings.add(Problem("schema.file", exc.message))
        findings.extend(exc.problems)
        return None


def load_secret(
    table: SecretTable, base: Path, environ: Mapping[str, str], findings: Findings
) -> LinkageSecret | None:
    raw: bytes
    if (table.file is None) == (table.env is None):
        findings.add(Problem("secret", "name exactly one of file or env"))
        return None
    if table.file is not None:
        path = base / table.file
        try:
            raw = read_limited(path, _MAX_SECRET_FILE_BYTES, "the linkage secret file")
            too_open = private_file_problem(path, "linkage secret")
        except OSError as exc:
            findings.add(Problem("secret.file", f"cannot be read: {exc.strerror}"))
            return None
        except ConfigError:
            findings.add(Problem("secret.file", f"is larger than {_MAX_SECRET_FILE_BYTES} bytes"))
            return None
        if too_open is not None:
            findings.add(Problem("secret.file", f"{too_open}; or name it by [secret] env"))
            return None
        raw = raw.rstrip(b"\r\n")
    else:
        assert table.env is not None
        if table.env not in environ:
            findings.add(Problem("secret.env", "the named environment variable is not set"))
            return None
        raw = environ[table.env].encode("utf-8")
    return findings.build(lambda: LinkageSecret(raw), "secret")


def _feature_source(
    feature: str, table: FeatureTable, transforms: tuple[Transform, ...]
) -> FeatureSource:
    columns = (table.column,) if table.column is not None else tuple(table.columns or ())
    return FeatureSource(
        feature=feature,
        columns=columns,
        normaliser=table.normalise or DEFAULT_NORMALISERS.get(feature, "text"),
        date_format=table.date_format,
        name_part=table.name_part,
        keep_last=table.keep_last,
        on_invalid=table.on_invalid,
        transforms=transforms,
        missing_values=tuple(
            dict.fromkeys(fold_text(v) for v in table.missing_values if fold_text(v))
        ),
        builtin_placeholders=table.builtin_placeholders,
    )
