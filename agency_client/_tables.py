"""The tables of ``agency.toml``, one pydantic model each, and the file's one parse.

:class:`AgencyToml` is the file as the encoding commands read it; :class:`ClientToml` as the
workflow commands (upload, consent, gateway, ...) read it, with ``agency.id`` and
``[matcher]`` required. They check shapes and types only (unknown keys and tables are
errors, named with the closest valid key); the domain objects built from them
(:mod:`agency_client._config`, :mod:`agency_client._client_config`) check the values.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Final, Literal, TypeAlias

from pydantic import Field, StringConstraints, model_validator

from agency_client._encoding import BUILTIN_SCHEMA_NAMES, DEFAULT_SCHEMA_NAME
from linkage.consent import Purpose
from linkage.errors import ConfigError
from linkage.limited_read import MAX_CONFIG_BYTES, read_limited
from linkage.validation import Table, keys_of

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_GATEWAY_LISTEN",
    "DEFAULT_STATE_FILE",
    "FEATURE_KEYS",
    "AgencyToml",
    "ClientToml",
    "FeatureTable",
    "NamePart",
    "Normaliser",
    "OnInvalid",
    "OutputFormat",
    "read_agency_toml",
]

Normaliser: TypeAlias = Literal["name", "text", "date", "sex", "phone", "digits", "postcode", "raw"]
NamePart: TypeAlias = Literal["first", "middle", "last"]
OutputFormat: TypeAlias = Literal["clk", "clkhash-json"]
OnInvalid: TypeAlias = Literal["reject", "missing"]

#: A non-empty string (a column name, a file path, a variable name).
Text: TypeAlias = Annotated[str, StringConstraints(min_length=1)]

DEFAULT_BATCH_SIZE: Final = 1000
DEFAULT_GATEWAY_LISTEN: Final = "127.0.0.1:8765"
DEFAULT_STATE_FILE: Final = "state/upload-state.sqlite"


class AgencyTable(Table):
    """``[agency]``: who this agency is (``id`` is required by the workflow commands)."""

    id: str | None = Field(default=None, description="the agency ID enrolled at the matcher")
    name: str = "agency"
    key_epoch: int = 1


class SecretTable(Table):
    """``[secret]``: where the linkage secret is (exactly one of ``file`` and ``env``)."""

    file: Text | None = Field(default=None, description="a path")
    env: Text | None = Field(default=None, description="the name of an environment variable")


class SchemaTable(Table):
    """``[schema]``."""

    file: Text = Field(
        default=DEFAULT_SCHEMA_NAME,
        description="a built-in schema (" + ", ".join(BUILTIN_SCHEMA_NAMES) + ") or a schema file",
    )


class InputTable(Table):
    """``[input]``: how the export is read, and named patterns for ``match`` steps."""

    delimiter: str = ","
    encoding: str = "utf-8-sig"
    record_key: str | None = None
    patterns: dict[str, str] = Field(
        default_factory=dict, description="a table of names and regular expressions"
    )


class OutputTable(Table):
    """``[output]``."""

    format: OutputFormat = "clk"


class FeatureTable(Table):
    """``[features.NAME]``: where one schema feature comes from, and how it is normalised."""

    model_config = Table.model_config | {"title": "a feature table"}

    column: Text | None = Field(default=None, description="a column name")
    columns: list[Text] | None = Field(
        default=None, min_length=1, description="a list of column names"
    )
    transforms: list[dict[str, Any]] = Field(
        default_factory=list,
        description='a list of steps, e.g. transforms = [{ op = "keep_first", characters = 5 }]',
    )
    name_part: NamePart | None = Field(
        default=None, description="first, middle or last (of a 'LAST, FIRST MIDDLE' value)"
    )
    normalise: Normaliser | None = None
    date_format: str | None = None
    keep_last: int | None = None
    missing_values: list[str] = Field(
        default_factory=list,
        description='a list of strings, e.g. missing_values = ["UNKNOWN", "N/A"]',
    )
    builtin_placeholders: bool = Field(
        default=True, description="true (read the built-in placeholders as missing) or false"
    )
    on_invalid: OnInvalid = Field(
        default="reject",
        description="reject (skip the row) or missing (encode the row without this value)",
    )

    @model_validator(mode="after")
    def _one_source(self) -> FeatureTable:
        if (self.column is None) == (self.columns is None):
            raise ValueError(
                'name exactly one of column = "NAME" or columns = ["NAME", ...] '
                "(the export's column, or several)"
            )
        return self


#: The keys of a ``[features.NAME]`` table.
FEATURE_KEYS: Final = keys_of(FeatureTable)


class MatcherTable(Table):
    """``[matcher]``: where the matcher is and this agency's credential for it."""

    address: Text = Field(description="host:port of the matcher")
    ca_cert: Text = Field(description="the path of the operator's CA certificate")
    cert: Text = Field(description="the path of this agency's certificate")
    key: Text = Field(description="the path of this agency's private key")
    batch_size: int = DEFAULT_BATCH_SIZE


class PointerTable(Table):
    """``[pointer]``."""

    key_file: Text = "pointer.key"


class StateTable(Table):
    """``[state]``."""

    file: Text = DEFAULT_STATE_FILE


class ConsentTable(Table):
    """``[consent]``: the consent of records that have none of their own."""

    disclose: bool = False
    allow_linkage: bool = True
    recipient_roles: list[str] = Field(
        default_factory=lambda: ["responder"], description="a list of role names"
    )
    recipient_agencies: list[str] = Field(default_factory=list, description="a list of agency IDs")
    purposes: list[str] = Field(
        default_factory=lambda: ["crisis_response"], description="a list of purposes"
    )
    expires: str | None = Field(
        default=None, description="YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (a quoted string)"
    )
    #: the records' events may count in the programme's aggregate outcome measures
    evaluation: bool = False


class GatewayTable(Table):
    """``[gateway]``: the responder gateway."""

    listen: str = DEFAULT_GATEWAY_LISTEN
    purpose: str = Purpose.CRISIS_RESPONSE.value
    cert: Text | None = None
    key: Text | None = None
    token_file: Text | None = None
    token_env: Text | None = None
    max_links: int = Field(default=5, description="an integer in 1..20")
    https_cert: Text | None = None
    https_key: Text | None = None


class RotationTable(Table):
    """``[rotation]``: during a key-epoch rotation, the epoch the programme is moving to
    (docs/key-rotation.md)."""

    key_epoch: int = Field(description="the next key epoch (above [agency] key_epoch)")
    secret_file: Text | None = Field(
        default=None, description="the path of the next epoch's linkage secret (mode 0600)"
    )
    secret_env: Text | None = Field(
        default=None, description="the environment variable holding the next epoch's secret"
    )
    lookups: Literal["current", "next"] = Field(
        default="current",
        description='the epoch the gateway encodes lookups in: "current" or "next"',
    )


def _empty_table() -> Any:
    return {}


class AgencyToml(Table):
    """The whole of ``agency.toml`` as the encoding commands read it."""

    model_config = Table.model_config | {"title": "agency.toml"}

    agency: AgencyTable = AgencyTable()
    secret: SecretTable = SecretTable()
    schema_: SchemaTable = Field(default=SchemaTable(), alias="schema")
    input: InputTable = InputTable()
    output: OutputTable = OutputTable()
    features: dict[str, FeatureTable] = Field(
        default_factory=dict, description="a table of feature tables"
    )
    matcher: MatcherTable | None = None
    pointer: PointerTable = PointerTable()
    state: StateTable = StateTable()
    consent: ConsentTable = ConsentTable()
    gateway: GatewayTable = GatewayTable()
    rotation: RotationTable | None = None


class ClientAgencyTable(AgencyTable):
    """``[agency]`` as the workflow commands read it: ``id`` is required."""

    id: str = Field(description="the agency ID enrolled at the matcher")


class ClientToml(AgencyToml):
    """The whole of ``agency.toml`` as the workflow commands read it (upload, consent,
    gateway, ...): ``agency.id`` and ``[matcher]`` are required. A ``[matcher]`` left out
    is read as empty, so each of its required keys is named."""

    agency: ClientAgencyTable = Field(default_factory=_empty_table, validate_default=True)
    matcher: MatcherTable = Field(default_factory=_empty_table, validate_default=True)


def read_agency_toml(path: Path) -> dict[str, Any]:
    """The parsed TOML of ``agency.toml`` (``ConfigError`` when it cannot be read or parsed)."""
    try:
        return tomllib.loads(
            read_limited(path, MAX_CONFIG_BYTES, "the config file").decode("utf-8")
        )
    except OSError as exc:
        hint = ""
        if isinstance(exc, FileNotFoundError) and path == Path("agency.toml"):
            hint = " (pass --config site/agency.toml or set AGENCY_CLIENT_CONFIG)"
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror}{hint}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
