"""The shipped schemas for the project's canonical person features.

* :func:`default_schema`: the **hardened** default that agencies, the demo and the docs
  use (``default-person-schema.json``; see docs/hardening.md for its settings and what
  they protect against).
* :func:`plain_schema`: the same features as a plain linkage schema v3
  (``plain-person-schema.json``), byte-identical to clkhash 0.18.3. It exists for the
  clkhash comparison benchmarks and for interoperating with clkhash tools; its CLKs are
  open to the re-identification attacks measured in benchmarks/attacks/.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Final

from linkage.encode._schema import LinkageSchema, load_schema

__all__ = [
    "DEFAULT_FEATURES",
    "default_schema",
    "default_schema_text",
    "plain_schema",
    "plain_schema_text",
]

#: The canonical person features of the default schema, in schema order.
DEFAULT_FEATURES: Final = (
    "given_name",
    "middle_name",
    "surname",
    "date_of_birth",
    "sex",
    "phone",
    "street_address",
    "address_line_2",
    "suburb",
    "postcode",
    "state",
)
_DEFAULT_RESOURCE: Final = "default-person-schema.json"
_PLAIN_RESOURCE: Final = "plain-person-schema.json"


def _text(name: str) -> str:
    return resources.files("linkage.encode").joinpath(name).read_text("utf-8")


def default_schema_text() -> str:
    """The hardened default schema's JSON text (a package data file)."""
    return _text(_DEFAULT_RESOURCE)


@cache
def default_schema() -> LinkageSchema:
    """The hardened default person schema (encoding it needs the key epoch)."""
    return load_schema(default_schema_text())


def plain_schema_text() -> str:
    """The plain (clkhash-compatible, unhardened) person schema's JSON text."""
    return _text(_PLAIN_RESOURCE)


@cache
def plain_schema() -> LinkageSchema:
    """The plain person schema v3: 1024 bits, BLAKE2, clkhash-identical, not hardened."""
    return load_schema(plain_schema_text(), allow_hardening=False)
