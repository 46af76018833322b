"""The shipped default schema for the project's canonical person features."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Final

from linkage.encode._schema import LinkageSchema, load_schema

__all__ = ["DEFAULT_FEATURES", "default_schema", "default_schema_text"]

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
_RESOURCE: Final = "default-person-schema.json"


def default_schema_text() -> str:
    """The default schema's JSON text (a package data file)."""
    return resources.files("linkage.encode").joinpath(_RESOURCE).read_text("utf-8")


@cache
def default_schema() -> LinkageSchema:
    """The default person schema (1024 bits, BLAKE2, every feature may be missing)."""
    return load_schema(default_schema_text())
