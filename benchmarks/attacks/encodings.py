"""The encoding settings the benchmark compares, and encoding a data set with one.

Each setting is a schema built from the shipped ones (linkage/encode/*.json):

* ``plain``: the plain, clkhash-compatible person schema (1024 bits);
* ``salting only``: the plain filter, names and street salted by the year of birth;
* ``diffusion t=N``: the shipped default's filter (16384 bits, low fill), diffused to
  1024 bits with ``t = N`` inputs per bit and no salting;
* ``diffusion t=10, 1024-bit filter``: diffusion of the plain, 75 %-full filter (shows why
  the default's filter is long and sparse);
* ``diffusion t=N, 2048 bits``: the same filter diffused to 2048 bits (more taps need
  more output bits to keep linkage quality; how far the graph attack's success falls
  before FEBRL4 F1 leaves the 0.01 band);
* ``diffusion t=24, 16384 bits``: many taps and as many output bits as filter bits (less
  noise per pair lets matches stand out at a lower threshold, and shows the attacker the
  same low-noise similarities);
* ``shipped default``: linkage/encode/default-person-schema.json as it is;
* ``majority XOR k=K, L bits``: not a Bloom filter, the SAUL-shaped encoding of
  :mod:`benchmarks.attacks.majority_xor` (Armknecht & Schäfer, PoPETs 2026) over the shipped
  default's tokens and weights, for comparison with the diffusion settings.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.attacks.majority_xor import MajorityXor, encode_table, expected_matrix
from benchmarks.attacks.similarity import (
    FloatMatrix,
    TokenTable,
    expected_similarity_matrix,
    token_table,
)
from linkage.encode import (
    ClkEncoder,
    LinkageSchema,
    default_schema_text,
    load_schema,
    plain_schema_text,
)
from linkage.types import ClkBytes

__all__ = ["KEY_EPOCH", "SETTINGS", "Setting", "encode_rows", "setting"]

KEY_EPOCH = 1
#: Features salted by the year of birth in the "salting only" setting.
SALTED_FEATURES = ("given_name", "surname", "street_address")


@dataclass(frozen=True)
class Setting:
    """A named encoding setting: a schema, and for a majority-XOR setting its parameters.

    ``schema`` tokenises the records (both sides of the attack); a Bloom-filter setting also
    encodes with it, a majority-XOR setting encodes its tokens with ``majority_xor``.
    """

    name: str
    schema: LinkageSchema
    majority_xor: MajorityXor | None = None

    def encode(self, rows: tuple[tuple[str | None, ...], ...], secret: bytes) -> ClkBytes:
        """Encode every row (all must be valid) with this setting."""
        if self.majority_xor is None:
            return encode_rows(self.schema, rows, secret)
        return encode_table(token_table(self.schema, rows), secret, self.majority_xor)

    def expected(self, table: TokenTable) -> FloatMatrix:
        """The attacker's expected encoded Dice of every pair of ``table``'s records."""
        if self.majority_xor is None:
            return expected_similarity_matrix(table, self.schema)
        return expected_matrix(table, self.majority_xor)


def _plain() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(plain_schema_text())
    return document


def _default() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(default_schema_text())
    return document


def _salting_only() -> dict[str, Any]:
    document = _plain()
    document["version"] = "3-hardened-1"
    document["hardening"] = {
        "salting": [
            {"feature": name, "saltFrom": "date_of_birth", "start": 0, "end": 4}
            for name in SALTED_FEATURES
        ],
        "balance": False,
    }
    return document


def _diffusion(taps: int, *, plain_filter: bool = False, output_bits: int = 1024) -> dict[str, Any]:
    document = copy.deepcopy(_plain() if plain_filter else _default())
    document["version"] = "3-hardened-1"
    document["hardening"] = {
        "salting": [],
        "balance": False,
        "diffusion": {"outputBits": output_bits, "t": taps},
    }
    return document


_BUILDERS: dict[str, Callable[[], dict[str, Any]]] = {
    "plain": _plain,
    "salting only": _salting_only,
    "diffusion t=4": lambda: _diffusion(4),
    "diffusion t=8": lambda: _diffusion(8),
    "diffusion t=10": lambda: _diffusion(10),
    "diffusion t=10, 1024-bit filter": lambda: _diffusion(10, plain_filter=True),
    "diffusion t=16, 2048 bits": lambda: _diffusion(16, output_bits=2048),
    "diffusion t=18, 2048 bits": lambda: _diffusion(18, output_bits=2048),
    "diffusion t=24, 16384 bits": lambda: _diffusion(24, output_bits=16384),
    "shipped default": _default,
}
_MAJORITY_XOR: dict[str, MajorityXor] = {
    "majority XOR k=2, 4096 bits": MajorityXor(output_bits=4096, votes=2),
    "majority XOR k=3, 16384 bits": MajorityXor(output_bits=16384, votes=3),
}
SETTINGS: tuple[str, ...] = (*_BUILDERS, *_MAJORITY_XOR)


def setting(name: str) -> Setting:
    """The setting called ``name`` (one of :data:`SETTINGS`)."""
    if name in _MAJORITY_XOR:
        return Setting(name, load_schema(_default()), _MAJORITY_XOR[name])
    return Setting(name, load_schema(_BUILDERS[name]()))


def encode_rows(
    schema: LinkageSchema, rows: tuple[tuple[str | None, ...], ...], secret: bytes
) -> ClkBytes:
    """Encode every row (all must be valid), ``uint8[n, length // 8]``."""
    encoder = ClkEncoder(schema, secret, key_epoch=KEY_EPOCH)
    parts = [encoder.encode(list(rows[i : i + 4096])) for i in range(0, len(rows), 4096)]
    out: ClkBytes = np.concatenate(parts) if parts else np.zeros((0, schema.length // 8), np.uint8)
    return out
