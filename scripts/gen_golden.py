"""Generate golden CLK vectors with clkhash 0.18.3 in its isolated virtualenv.

    .venv/bin/python scripts/gen_golden.py            # writes tests/fixtures/golden/*.json

Every option of linkage schema v3 is covered alone and in random combinations
(seeded, so reruns give the same cases): formats, comparisons, strategies,
hashes, HKDF settings, XOR folds, missing values and ignored features, with
unicode, empty, one-character, long and invalid values. clkhash encodes each
row on its own; a row clkhash refuses is recorded as an error, which our
encoder must refuse too. tests/encode/test_golden.py checks every vector.
"""

from __future__ import annotations

import base64
import json
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clkhash_env import REPO, run_in_clkhash

OUT_DIR = REPO / "tests" / "fixtures" / "golden"
WORKER = REPO / "scripts" / "clkhash_golden_worker.py"
SEED = 20261127

Json = dict[str, Any]

UNICODE = [
    "é",
    "Zoë",
    "José Müller",
    "Ångström",
    "中文名字",
    "🎉",
    "Ωmega",
    "straße",
    "مرحبا",
    "Đặng",
]
PLAIN = [
    "",
    "a",
    "Z",
    "jo",
    "john",
    "Smith",
    "o'brien",
    "anne-marie",
    "  spaced  out  ",
    "MIXED case",
]
LONG = ["x" * 300, "abcdefghij" * 40, "名" * 120]
NUMBERS = ["0", "7", "42", "-5", "+13", " 14 ", "1234567", "99999999999", "٣", "1_000"]
FLOATS = ["3.14159", "-2.5", "0.001", "1e3", "12.", "-0.0", "2.675", "1.005"]
BAD_NUMBERS = ["abc", "", "1.2.3", "inf", "nan"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def schema(
    features: list[Json],
    *,
    length: int = 256,
    folds: int | None = None,
    kdf: Json | None = None,
    documented_folds: bool = False,
) -> Json:
    clk: Json = {"l": length, "kdf": kdf or {"type": "HKDF"}}
    if folds is not None:
        clk["xor_folds"] = folds
        if documented_folds:
            clk["xorFolds"] = folds
    return {"version": 3, "clkConfig": clk, "features": features}


def feature(
    identifier: str,
    fmt: Json,
    comparison: Json,
    strategy: Json,
    *,
    hash_: Json | None = None,
    missing: Json | None = None,
) -> Json:
    hashing: Json = {"comparison": comparison, "strategy": strategy}
    if hash_ is not None:
        hashing["hash"] = hash_
    if missing is not None:
        hashing["missingValue"] = missing
    return {"identifier": identifier, "format": fmt, "hashing": hashing}


STRING: Json = {"type": "string"}
BIGRAM: Json = {"type": "ngram", "n": 2}
BPT20: Json = {"bitsPerToken": 20}


def text_feature(identifier: str = "text", **kwargs: Any) -> Json:
    return feature(identifier, STRING, BIGRAM, BPT20, **kwargs)


def single_option_cases(rng: random.Random) -> list[tuple[str, Json, list[list[str]]]]:
    cases: list[tuple[str, Json, list[list[str]]]] = []
    text_rows = [[v] for v in PLAIN + UNICODE[:5] + LONG[:1]]

    # formats
    for encoding in ("ascii", "utf-8", "utf-16", "utf-32"):
        fmt = {"type": "string", "encoding": encoding}
        rows = [[v] for v in ["john", "", "q", "José Müller", "中文名字", "🎉", LONG[0]]]
        cases.append(
            (f"format-string-encoding-{encoding}", schema([feature("s", fmt, BIGRAM, BPT20)]), rows)
        )
    for case in ("upper", "lower", "mixed"):
        fmt = {"type": "string", "case": case}
        rows = [[v] for v in ["JOHN", "john", "John", "", "123", "ÉCOLE", "straße"]]
        cases.append(
            (f"format-string-case-{case}", schema([feature("s", fmt, BIGRAM, BPT20)]), rows)
        )
    for bounds in ({"minLength": 2}, {"maxLength": 3}, {"minLength": 1, "maxLength": 5}):
        fmt = {"type": "string", **bounds}
        rows = [[v] for v in ["", "a", "ab", "abc", "abcd", "abcdef", "中文名字"]]
        name = "-".join(f"{k}{v}" for k, v in bounds.items())
        cases.append((f"format-string-{name}", schema([feature("s", fmt, BIGRAM, BPT20)]), rows))
    for pattern in (r"[0-9]{4}", r"[A-Z][a-z]+", r"(m|f|x)?", r".*é.*"):
        fmt = {"type": "string", "pattern": pattern}
        rows = [[v] for v in ["2000", "200", "John", "john", "m", "", "café", "xx"]]
        cases.append(
            (f"format-pattern-{pattern}", schema([feature("s", fmt, BIGRAM, BPT20)]), rows)
        )
    for bounds in ({}, {"minimum": 0}, {"maximum": 100}, {"minimum": -10, "maximum": 10}):
        fmt = {"type": "integer", **bounds}
        rows = [[v] for v in [*NUMBERS, "abc", "", "1.5"]]
        name = "-".join(f"{k}{v}" for k, v in bounds.items()) or "plain"
        cases.append(
            (
                f"format-integer-{name}",
                schema([feature("i", fmt, {"type": "ngram", "n": 1, "positional": True}, BPT20)]),
                rows,
            )
        )
    date_values = {
        "%Y-%m-%d": ["1980-01-02", "2000-02-29", "2001-02-29", "0005-06-07", "1980-1-2", "", "x"],
        "%d/%m/%Y": ["02/01/1980", "31/12/1999", "12/31/1999", "1/2/1980"],
        "%m/%d/%Y": ["01/02/1980", "12/31/1999", "31/12/1999"],
        "%Y%m%d": ["19800102", "20000229", "1980012", "19801302"],
        "%d.%m.%Y": ["02.01.1980", "29.02.2004", "02-01-1980"],
        "%d %b %Y": ["02 Jan 1980", "15 Sep 2010", "02 jan 1980"],
    }
    for fmt_text, values in date_values.items():
        fmt = {"type": "date", "format": fmt_text}
        cases.append(
            (
                f"format-date-{fmt_text}",
                schema([feature("d", fmt, {"type": "ngram", "n": 1, "positional": True}, BPT20)]),
                [[v] for v in values],
            )
        )
    enum_fmt = {"type": "enum", "values": ["m", "f", "x", "É", ""]}
    cases.append(
        (
            "format-enum",
            schema([feature("e", enum_fmt, {"type": "exact"}, {"bitsPerToken": 40})]),
            [[v] for v in ["m", "f", "x", "É", "", "M", "male", "y"]],
        )
    )

    # comparisons
    for n in (1, 2, 3, 4, 7):
        for positional in (False, True):
            comparison = {"type": "ngram", "n": n, "positional": positional}
            cases.append(
                (
                    f"comparison-ngram-n{n}-{'pos' if positional else 'plain'}",
                    schema([feature("s", STRING, comparison, {"bitsPerToken": 10})]),
                    [[v] for v in ["", "a", "ab", "hello", "José", "中文名字", "  "]],
                )
            )
    cases.append(
        (
            "comparison-ngram-positional-omitted",
            schema([feature("s", STRING, {"type": "ngram", "n": 3}, BPT20)]),
            text_rows[:6],
        )
    )
    cases.append(
        (
            "comparison-exact",
            schema([feature("s", STRING, {"type": "exact"}, {"bitsPerToken": 30})]),
            text_rows,
        )
    )
    for threshold, resolution, precision in (
        (2, 1, None),
        (5, 3, 0),
        (10.0, 2, None),
        (0.5, 4, 1),
        (1.25, 2, 2),
        (0.001, 1, 3),
        (100, 5, 0),
    ):
        comparison: Json = {
            "type": "numeric",
            "thresholdDistance": threshold,
            "resolution": resolution,
        }
        if precision is not None:
            comparison["fractional_precision"] = precision
        cases.append(
            (
                f"comparison-numeric-t{threshold}-r{resolution}-p{precision}",
                schema([feature("v", STRING, comparison, {"bitsPerToken": 8})]),
                [[v] for v in NUMBERS + FLOATS + BAD_NUMBERS],
            )
        )
    cases.append(
        (
            "comparison-numeric-integer-format",
            schema(
                [
                    feature(
                        "age",
                        {"type": "integer", "minimum": 0, "maximum": 130},
                        {"type": "numeric", "thresholdDistance": 3, "resolution": 2},
                        {"bitsPerFeature": 60},
                    )
                ]
            ),
            [[v] for v in ["0", "17", "+18", " 65 ", "130", "131", "-1", "x"]],
        )
    )

    # strategies
    for bits in (1, 5, 31, 32, 33, 64, 100):
        cases.append(
            (
                f"strategy-bitsPerToken-{bits}",
                schema([text_feature(hash_={"type": "blakeHash"})], length=512)
                if bits % 2
                else schema([text_feature()], length=512),
                [[v] for v in ["", "ab", "hello world", "中文", LONG[1][:60]]],
            )
        )
        cases[-1][1]["features"][0]["hashing"]["strategy"] = {"bitsPerToken": bits}
    for bits in (1, 7, 100, 500, 2000):
        cases.append(
            (
                f"strategy-bitsPerFeature-{bits}",
                schema([feature("s", STRING, BIGRAM, {"bitsPerFeature": bits})], length=512),
                [[v] for v in ["", "a", "ab", "hello world", "José Müller", LONG[0]]],
            )
        )

    # hashes
    for name, hash_ in (
        ("default", None),
        ("blake", {"type": "blakeHash"}),
        ("double", {"type": "doubleHash"}),
        ("double-ps-false", {"type": "doubleHash", "prevent_singularity": False}),
        ("double-ps-true", {"type": "doubleHash", "prevent_singularity": True}),
    ):
        for length in (8, 16, 1024):
            rows = [[v] for v in [*PLAIN[:6], *UNICODE[:4], "zzzzzzzzzz", "qwertyuiop"]]
            cases.append(
                (f"hash-{name}-l{length}", schema([text_feature(hash_=hash_)], length=length), rows)
            )
    for length in (24, 200, 1000):
        rows = [[v] for v in ["john", "smith", "中文", ""]]
        for prevent in (False, True):
            hash_ = {"type": "doubleHash", "prevent_singularity": prevent}
            cases.append(
                (
                    f"hash-double-ps{prevent}-l{length}",
                    schema([text_feature(hash_=hash_)], length=length),
                    rows,
                )
            )

    # HKDF
    salt = b64(bytes(rng.randrange(256) for _ in range(32)))
    info = b64(b"golden vectors")
    for kdf_hash in ("SHA256", "SHA512", None):
        for use_salt in (False, True):
            for use_info in (False, True):
                kdf: Json = {"type": "HKDF"}
                if kdf_hash:
                    kdf["hash"] = kdf_hash
                if use_salt:
                    kdf["salt"] = salt
                if use_info:
                    kdf["info"] = info
                cases.append(
                    (
                        f"kdf-{kdf_hash}-salt{use_salt}-info{use_info}",
                        schema([text_feature("a"), text_feature("b")], kdf=kdf),
                        [["john", "smith"], ["", "x"]],
                    )
                )
    for key_size, hash_ in (
        (1, None),
        (16, None),
        (32, None),
        (64, None),
        (65, {"type": "doubleHash"}),
        (128, {"type": "doubleHash"}),
    ):
        kdf = {"type": "HKDF", "hash": "SHA512", "keySize": key_size, "salt": "", "info": ""}
        cases.append(
            (
                f"kdf-keySize-{key_size}",
                schema([text_feature("a", hash_=hash_), text_feature("b", hash_=hash_)], kdf=kdf),
                [["john", "smith"], ["é", "🎉"]],
            )
        )

    # XOR folding
    for folds in (0, 1, 2, 3, 4):
        for documented in (False, True):
            cases.append(
                (
                    f"xor-folds-{folds}-documented{documented}",
                    schema(
                        [text_feature("a"), text_feature("b", hash_={"type": "doubleHash"})],
                        length=128,
                        folds=folds,
                        documented_folds=documented,
                    ),
                    [["john", "smith"], ["", ""], ["x", LONG[2][:50]]],
                )
            )

    # missing values
    for name, fmt, missing, rows in (
        ("empty-sentinel", STRING, {"sentinel": ""}, [[""], ["a"], ["N/A"]]),
        ("na-to-empty", STRING, {"sentinel": "N/A", "replaceWith": ""}, [["N/A"], [""], ["n/a"]]),
        ("empty-to-unknown", STRING, {"sentinel": "", "replaceWith": "unknown"}, [[""], ["x"]]),
        (
            "date-dash",
            {"type": "date", "format": "%Y-%m-%d"},
            {"sentinel": "-"},
            [["-"], ["1999-01-01"], [""]],
        ),
        (
            "integer-empty",
            {"type": "integer", "minimum": 50},
            {"sentinel": "", "replaceWith": "0"},
            [[""], ["49"], ["50"], ["0"]],
        ),
        (
            "ascii-nonascii-replacement",
            {"type": "string", "encoding": "ascii"},
            {"sentinel": "?", "replaceWith": "é"},
            [["?"], ["e"], ["é"]],
        ),
        (
            "pattern-bypass",
            {"type": "string", "pattern": "[0-9]+"},
            {"sentinel": "none", "replaceWith": "zero"},
            [["none"], ["12"], ["zero"]],
        ),
        (
            "enum-unknown",
            {"type": "enum", "values": ["m", "f"]},
            {"sentinel": "u"},
            [["u"], ["m"], ["x"]],
        ),
    ):
        cases.append(
            (
                f"missing-{name}",
                schema([feature("v", fmt, BIGRAM, BPT20, missing=missing)]),
                rows,
            )
        )

    # ignored features
    ignored = {"identifier": "skip", "ignored": True}
    ignored_full = {**text_feature("skip2"), "ignored": True}
    not_ignored = {**text_feature("kept"), "ignored": False}
    for name, features in (
        ("first", [ignored, text_feature("a")]),
        ("middle", [text_feature("a"), ignored, text_feature("b")]),
        ("last", [text_feature("a"), ignored]),
        ("full-spec", [ignored_full, text_feature("a")]),
        ("explicit-false", [not_ignored, ignored]),
        ("many", [ignored, {"identifier": "i2", "ignored": True}, text_feature("a"), ignored_full]),
    ):
        width = len(features)
        rows = [["john"] * width, ["中文"] * width, [""] * width]
        rows.append([rng.choice(PLAIN + UNICODE) for _ in range(width)])
        cases.append((f"ignored-{name}", schema(features), rows))

    # lengths
    for length in (8, 64, 2048, 4096):
        cases.append((f"length-{length}", schema([text_feature()], length=length), text_rows[:5]))
    return cases


def random_feature(rng: random.Random, index: int, double_allowed: bool) -> tuple[Json, Any]:
    """A random feature and a value generator for it."""
    kind = rng.choice(["string", "string", "pattern", "integer", "date", "enum"])
    fmt: Json
    if kind == "string":
        fmt = {"type": "string"}
        if rng.random() < 0.3:
            fmt["encoding"] = rng.choice(["ascii", "utf-8", "utf-16", "utf-32"])
        if rng.random() < 0.2:
            fmt["case"] = rng.choice(["upper", "lower", "mixed"])
        if rng.random() < 0.2:
            fmt["maxLength"] = rng.randint(3, 40)

        def values() -> str:
            return rng.choice(PLAIN + UNICODE + LONG[:1] + NUMBERS[:4])
    elif kind == "pattern":
        fmt = {"type": "string", "pattern": r"[a-z0-9 ]*"}

        def values() -> str:
            return rng.choice(["abc", "12 high st", "", "ABC", "o'brien"])
    elif kind == "integer":
        fmt = {"type": "integer"}

        def values() -> str:
            return rng.choice([*NUMBERS, str(rng.randint(-999, 99999)), "x"])
    elif kind == "date":
        fmt = {"type": "date", "format": "%Y-%m-%d"}

        def values() -> str:
            return f"{rng.randint(1900, 2020)}-{rng.randint(1, 12):02d}-{rng.randint(1, 31):02d}"
    else:
        fmt = {"type": "enum", "values": ["a", "b", "c", "ü"]}

        def values() -> str:
            return rng.choice(["a", "b", "c", "ü", "d", ""])

    comparison_kind = rng.choice(["ngram", "ngram", "exact", "numeric"])
    if comparison_kind == "numeric" and kind in ("integer",):
        comparison: Json = {
            "type": "numeric",
            "thresholdDistance": rng.choice([1, 2.5, 10]),
            "resolution": rng.randint(1, 4),
        }
        if rng.random() < 0.5:
            comparison["fractional_precision"] = rng.randint(0, 2)
    elif comparison_kind == "exact":
        comparison = {"type": "exact"}
    else:
        comparison = {"type": "ngram", "n": rng.randint(1, 4)}
        if rng.random() < 0.6:
            comparison["positional"] = rng.random() < 0.5
    strategy = (
        {"bitsPerToken": rng.randint(1, 60)}
        if rng.random() < 0.5
        else {"bitsPerFeature": rng.randint(1, 400)}
    )
    hash_: Json | None = None
    roll = rng.random()
    if double_allowed and roll < 0.4:
        hash_ = {"type": "doubleHash"}
        if rng.random() < 0.6:
            hash_["prevent_singularity"] = rng.random() < 0.5
    elif roll < 0.7:
        hash_ = {"type": "blakeHash"}
    missing: Json | None = None
    if rng.random() < 0.3:
        missing = {"sentinel": rng.choice(["", "N/A"])}
        if rng.random() < 0.5:
            missing["replaceWith"] = rng.choice(["", "unknown", "0"])
    spec = feature(f"f{index}", fmt, comparison, strategy, hash_=hash_, missing=missing)
    if rng.random() < 0.2:
        spec["description"] = "a random feature"
    if missing is not None:
        sentinel = missing["sentinel"]
        base = values

        def values() -> str:
            return sentinel if rng.random() < 0.3 else base()

    return spec, values


def random_cases(rng: random.Random, count: int) -> list[tuple[str, Json, list[list[str]]]]:
    cases = []
    for number in range(count):
        length = rng.choice([64, 128, 256, 512, 1024])
        folds = rng.choice([None, 0, 0, 1, 2])
        key_size = rng.choice([None, 16, 32, 64])
        kdf: Json = {"type": "HKDF"}
        if rng.random() < 0.5:
            kdf["hash"] = rng.choice(["SHA256", "SHA512"])
        if rng.random() < 0.5:
            kdf["salt"] = b64(bytes(rng.randrange(256) for _ in range(rng.randint(0, 64))))
        if rng.random() < 0.5:
            kdf["info"] = b64(f"info {number}".encode())
        if key_size is not None:
            kdf["keySize"] = key_size
        features: list[Json] = []
        generators: list[Any] = []
        for index in range(rng.randint(1, 5)):
            if rng.random() < 0.15:
                features.append({"identifier": f"ignored{index}", "ignored": True})
                generators.append(lambda: rng.choice(PLAIN))
            else:
                spec, gen = random_feature(rng, index, double_allowed=True)
                features.append(spec)
                generators.append(gen)
        rows = [[gen() for gen in generators] for _ in range(4)]
        cases.append(
            (f"random-{number:03d}", schema(features, length=length, folds=folds, kdf=kdf), rows)
        )
    return cases


def main() -> None:
    rng = random.Random(SEED)
    cases = single_option_cases(rng) + random_cases(rng, 90)
    payload = {
        "cases": [
            {
                "name": name,
                "schema": linkage_schema,
                "secret_hex": bytes(rng.randrange(256) for _ in range(rng.randint(16, 40))).hex(),
                "rows": rows,
            }
            for name, linkage_schema, rows in cases
        ]
    }
    results = run_in_clkhash(WORKER, payload)["results"]
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    split = {"options": [], "random": []}
    vectors = errors = 0
    for case, outcome in zip(payload["cases"], results, strict=True):
        case["expected"] = outcome
        vectors += len(outcome)
        errors += sum("error" in item for item in outcome)
        split["random" if case["name"].startswith("random-") else "options"].append(case)
    for part, part_cases in split.items():
        document = {
            "generator": "scripts/gen_golden.py",
            "clkhash": "0.18.3",
            "seed": SEED,
            "cases": part_cases,
        }
        path = OUT_DIR / f"golden-{part}.json"
        path.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {path.relative_to(REPO)}: {len(part_cases)} cases")
    print(f"{len(payload['cases'])} cases, {vectors} vectors ({errors} refused by clkhash)")


if __name__ == "__main__":
    main()
