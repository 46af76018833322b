"""The settings the quality benchmark measured, for the default person segments.

They go with the segments block of :func:`linkage.encode.default_segmented_schema` (one
segment per feature group: ``given_name``, ``middle_name``, ``surname``, ``date_of_birth``,
``sex``, ``phone``, ``street``, ``locality``; given name and surname in one key group).
``hardened=True`` for diffused segments (the shipped default), ``False`` for plain Bloom
filter segments. docs/quality.md gives the figures behind them.
"""

from __future__ import annotations

from linkage.errors import ConfigError, Problem
from linkage.layout import SegmentLayout
from linkage.match import HammingLsh
from linkage.probabilistic._blocking import BlockingRule, BlockingRules, ExactRule, LshRule
from linkage.probabilistic._model import Comparison, LevelRule

__all__ = [
    "KEY_SEGMENTS",
    "default_blocking",
    "default_blocking_ladder",
    "default_comparisons",
    "default_training_rules",
    "has_key_segments",
]

#: The derived key segments of the default schema (linkage.encode's DEFAULT_SEGMENTS):
#: nickname sets and sorted letters of the given name, name parts and sorted letters of the
#: surname, the date of birth with day and month sorted, the given name's initial.
KEY_SEGMENTS = (
    "given_key",
    "given_letters",
    "surname_key",
    "surname_letters",
    "dob_key",
    "given_initial",
)


def has_key_segments(layout: SegmentLayout | None) -> bool:
    """Whether a layout carries the default schema's derived key segments."""
    return layout is not None and all(name in layout.key_sets for name in KEY_SEGMENTS)


#: The candidate guard of the "xlarge" rules on a name with the street (see
#: :func:`_xlarge_blocking`).
_XLARGE_MAX_CANDIDATES = 400_000_000

#: The blocking rule sets :func:`default_blocking` offers, by the size they are made for.
_SCALES = ("default", "large", "xlarge")


def default_comparisons(
    hardened: bool = True, layout: SegmentLayout | None = None
) -> tuple[Comparison, ...]:
    """Comparison levels per segment (cut points on the segment Dice); with the derived key
    segments in ``layout``, names and the date of birth also agree on their keys (a
    nickname, transposed letters, one part of a double family name, day and month
    swapped), and agreement on names, date of birth, phone and address is weighed by how
    common the value is (term frequencies)."""
    if hardened and has_key_segments(layout):
        return _keyed_comparisons()
    if hardened:
        name = (1.0, 0.8, 0.7, 0.6)
        return (
            Comparison("given_name", name),
            Comparison("middle_name", (1.0, 0.7)),
            Comparison("surname", name),
            Comparison("date_of_birth", (1.0, 0.8, 0.7, 0.6)),
            Comparison("sex", (1.0,)),
            Comparison("phone", (1.0, 0.7)),
            Comparison("street", (1.0, 0.75, 0.6)),
            Comparison("locality", (1.0, 0.75, 0.6)),
        )
    name = (1.0, 0.85, 0.7, 0.5)
    return (
        Comparison("given_name", name),
        Comparison("middle_name", (1.0, 0.7)),
        Comparison("surname", name),
        Comparison("date_of_birth", (1.0, 0.8, 0.6)),
        Comparison("sex", (1.0,)),
        Comparison("phone", (1.0, 0.8)),
        Comparison("street", (1.0, 0.8, 0.6)),
        Comparison("locality", (1.0, 0.7, 0.4)),
    )


def _keyed_comparisons() -> tuple[Comparison, ...]:
    """The comparisons of the default schema with key segments (docs/quality.md)."""
    return (
        Comparison(
            "given_name",
            rules=(
                LevelRule("given_name", 1.0),
                LevelRule("given_key", 1.0),
                LevelRule("given_letters", 1.0),
                LevelRule("given_name", 0.8),
                LevelRule("given_name", 0.7),
                LevelRule("given_name", 0.6),
                LevelRule("given_initial", 1.0),
            ),
            term_frequency=True,
        ),
        Comparison("middle_name", (1.0, 0.7)),
        Comparison(
            "surname",
            rules=(
                LevelRule("surname", 1.0),
                LevelRule("surname_letters", 1.0),
                LevelRule("surname_key", 1.0),
                LevelRule("surname", 0.8),
                LevelRule("surname", 0.7),
                LevelRule("surname", 0.6),
            ),
            term_frequency=True,
        ),
        Comparison(
            "date_of_birth",
            rules=(
                LevelRule("date_of_birth", 1.0),
                LevelRule("dob_key", 1.0),
                LevelRule("date_of_birth", 0.8),
                LevelRule("date_of_birth", 0.7),
                LevelRule("date_of_birth", 0.6),
            ),
            term_frequency=True,
        ),
        Comparison("sex", (1.0,)),
        Comparison("phone", (1.0, 0.7), term_frequency=True),
        Comparison("street", (1.0, 0.75, 0.6), term_frequency=True),
        Comparison("locality", (1.0, 0.75, 0.6), term_frequency=True),
    )


def default_blocking_ladder(hardened: bool = True) -> tuple[tuple[BlockingRule, ...], int]:
    """The blocking ladder the matcher plans from (:func:`plan_blocking`) and how many of
    its first rules are always kept.

    The kept core suits any index size (the "large" rules, about 2 to 27 candidate pairs
    per record from 5 * 10^4 to 10^6 records, plus exact rules on the derived keys: a
    nickname or transposed letters with the date of birth or the other name); the rest,
    from the strict to the loose, are added while the index size affords them: at a few
    tens of thousands of records nearly all of them, which keeps 0.99 or more of the true
    pairs on every scenario measured (docs/quality.md). Rules on key segments are skipped
    for layouts without them.
    """
    wide = 12 if hardened else 20
    core: tuple[BlockingRule, ...] = (
        LshRule(("record",), HammingLsh(bands=64, bits_per_band=32, seed=11)),
        ExactRule(("phone",)),
        ExactRule(("date_of_birth", "given_name")),
        ExactRule(("date_of_birth", "surname")),
        ExactRule(("date_of_birth", "street")),
        ExactRule(("surname", "street")),
        ExactRule(("given_name", "street")),
        ExactRule(("given_name", "surname", "date_of_birth"), unordered=True),
        ExactRule(("given_key", "surname")),
        ExactRule(("given_name", "surname_key")),
        ExactRule(("given_key", "date_of_birth")),
        ExactRule(("surname_key", "dob_key")),
        ExactRule(("given_letters", "dob_key")),
        ExactRule(("surname_letters", "dob_key")),
        ExactRule(("given_letters", "surname_letters")),
    ) + (
        (
            LshRule(
                ("given_name", "surname", "date_of_birth"),
                HammingLsh(bands=96, bits_per_band=56, seed=16),
            ),
            LshRule(("surname", "date_of_birth"), HammingLsh(bands=64, bits_per_band=56, seed=14)),
        )
        if hardened
        else ()
    )
    optional: tuple[BlockingRule, ...] = (
        ExactRule(("date_of_birth", "sex")),
        ExactRule(("given_name", "surname", "sex")),
        ExactRule(("given_name", "surname"), unordered=True),
        ExactRule(("surname_letters", "sex")),
        ExactRule(("date_of_birth",)),
        ExactRule(("given_key", "locality")),
        ExactRule(("surname", "locality")),
        ExactRule(("street",)),
    ) + (
        (
            LshRule(("given_name", "surname"), HammingLsh(bands=40, bits_per_band=20, seed=41)),
            LshRule(("record",), HammingLsh(bands=64, bits_per_band=16, seed=17)),
            LshRule(("date_of_birth", "street"), HammingLsh(bands=32, bits_per_band=24, seed=12)),
            LshRule(("surname", "date_of_birth"), HammingLsh(bands=32, bits_per_band=24, seed=18)),
            LshRule(
                ("given_name", "date_of_birth"), HammingLsh(bands=32, bits_per_band=24, seed=15)
            ),
            ExactRule(("surname", "sex")),
            LshRule(("record",), HammingLsh(bands=48, bits_per_band=14, seed=31)),
            LshRule(("date_of_birth", "street"), HammingLsh(bands=24, bits_per_band=wide, seed=32)),
            LshRule(("given_name", "surname"), HammingLsh(bands=24, bits_per_band=wide, seed=33)),
        )
        if hardened
        else (ExactRule(("surname", "sex")),)
    )
    return core + optional, len(core)


def default_blocking(
    hardened: bool = True, *, wide: bool = False, scale: str = "default"
) -> BlockingRules:
    """The union of blocking rules.

    ``scale="default"`` (tens of thousands to about a hundred thousand records, what the
    quality benchmark measured): segment-level LSH only on diffused segments (about a third
    of their bits set); a plain segment filter is so sparse that sampled bits are mostly 0
    and most pairs would collide. ``wide`` adds looser LSH rules (fewer bits per band) that
    find a few more heavily corrupted matches at many more candidates: for small data sets
    (tens of thousands of records; about 1.1 M candidates on FEBRL4's 5,000 x 5,000
    records). Its candidates grow with the square of the records: on the synthetic
    multi-agency records 192 candidate pairs per record at 50,000 records; at 200,000 the
    surname + sex block exceeds its ``max_candidates`` guard (``ResourceExhaustedError``),
    and at a million the rules would make about 5 x 10^9 pairs (the record LSH alone
    about 10^9).

    ``scale="large"`` (up to about a million records): :func:`_large_blocking`; ``wide``
    does not apply to it. ``scale="xlarge"`` (about ten million records):
    :func:`_xlarge_blocking`. Any other ``scale`` is a :class:`ConfigError`.
    """
    if scale not in _SCALES:
        raise ConfigError(
            "invalid blocking",
            problems=[Problem("scale", f"must be one of {', '.join(_SCALES)}")],
        )
    if scale == "large":
        return _large_blocking(hardened)
    if scale == "xlarge":
        return _xlarge_blocking(hardened)
    wide_lsh: tuple[LshRule, ...] = (
        LshRule(("record",), HammingLsh(bands=48, bits_per_band=14, seed=31)),
        LshRule(("date_of_birth", "street"), HammingLsh(bands=24, bits_per_band=12, seed=32)),
        LshRule(("given_name", "surname"), HammingLsh(bands=24, bits_per_band=12, seed=33)),
    )
    segment_lsh: tuple[LshRule, ...] = (
        LshRule(("date_of_birth", "street"), HammingLsh(bands=32, bits_per_band=24, seed=12)),
        LshRule(("given_name", "surname"), HammingLsh(bands=32, bits_per_band=24, seed=13)),
        LshRule(("surname", "date_of_birth"), HammingLsh(bands=32, bits_per_band=24, seed=14)),
        LshRule(("given_name", "date_of_birth"), HammingLsh(bands=32, bits_per_band=24, seed=15)),
    )
    return BlockingRules(
        (
            LshRule(("record",), HammingLsh(bands=64, bits_per_band=16, seed=11)),
            ExactRule(("date_of_birth",)),
            ExactRule(("given_name", "surname"), unordered=True),
            ExactRule(("phone",)),
            ExactRule(("surname", "street")),
            ExactRule(("surname", "sex")),
            ExactRule(("street",)),
            ExactRule(("given_name", "locality")),
            ExactRule(("surname", "locality")),
        )
        + (segment_lsh if hardened else ())
        + (wide_lsh if hardened and wide else ())
    )


def _large_blocking(hardened: bool) -> BlockingRules:
    """Rules whose random candidates stay few at a million records.

    A rule's candidates among non-matches grow with the square of the records (pairs per
    record linearly), so every rule here is one whose chance of pairing two random people
    is small: LSH bands of 32 to 56 sampled bits instead of 16 to 24, and exact rules on two
    or three segments instead of one common value (no surname + sex, street, locality or
    date of birth alone). What each keeps is the true pairs of one kind of error:

    * record-level LSH (64 bands x 32 bits): the near-identical records;
    * LSH over given name + surname + date of birth (96 x 56) and surname + date of birth
      (64 x 56): a typo or nickname in a name, or a changed date, with the rest equal;
    * the phone; date of birth with the given name, the surname, the street or the sex;
      surname or given name with the street; given name, surname and date of birth in any
      order (a swapped name); given name, surname and sex: records of one person that
      moved, changed a name or lost the phone, each needing two agreeing fields.

    On the synthetic multi-agency records (benchmarks/bench_prob_blocking.py,
    docs/quality.md "Blocking at scale"): 2.0, 5.9 and 26.7 candidate pairs per record at
    50,000, 200,000 and 1,000,000 records, pair completeness 0.998 at each (the default
    rules: 0.9999); linkage F1 as good or better where both were measured (0.9742 against
    0.9740 at 50,000, 0.9734 against 0.9660 at 100,000). Date of birth + sex and
    given name + surname + sex still grow with the square of the records: near two million
    records the latter reaches its ``max_candidates`` guard. Plain (unhardened) segments get
    no segment LSH, as in the default rules (not measured at scale).
    """
    segment_lsh: tuple[LshRule, ...] = (
        LshRule(
            ("given_name", "surname", "date_of_birth"),
            HammingLsh(bands=96, bits_per_band=56, seed=16),
        ),
        LshRule(("surname", "date_of_birth"), HammingLsh(bands=64, bits_per_band=56, seed=14)),
    )
    return BlockingRules(
        (
            LshRule(("record",), HammingLsh(bands=64, bits_per_band=32, seed=11)),
            ExactRule(("phone",)),
            ExactRule(("date_of_birth", "given_name")),
            ExactRule(("date_of_birth", "surname")),
            ExactRule(("date_of_birth", "street")),
            ExactRule(("date_of_birth", "sex")),
            ExactRule(("surname", "street")),
            ExactRule(("given_name", "street")),
            ExactRule(("given_name", "surname", "date_of_birth"), unordered=True),
            ExactRule(("given_name", "surname", "sex")),
        )
        + (segment_lsh if hardened else ())
    )


def _xlarge_blocking(hardened: bool) -> BlockingRules:
    """The "large" rules less those whose candidates among strangers grow with the square
    of the records past what one machine scores at ten million records.

    Counted on the synthetic multi-agency records at 250,000 and 1,000,000 records
    (``benchmarks/bench_prob_blocking.py``, pairs summed over an LSH rule's bands) and
    extrapolated to ten million as ``a n + b n^2``: date of birth + sex about 4.8 x 10^8
    pairs and given name + surname + sex about 6.0 x 10^8 (both past the 10^8
    ``max_candidates`` guard), and the segment LSH over given name + surname + date of
    birth and over surname + date of birth about 7 x 10^8 and 1.8 x 10^9 (their sampled
    bits are mostly 0 on sparse segments, so strangers collide). What stays: the
    record-level LSH, the phone, the date of birth with the given name, the surname or the
    street, surname or given name with the street, and the names and date of birth in any
    order. They keep fewer of the true pairs than "large" (docs/matcher.md "Ten million
    records" gives the pair completeness measured at a million).
    """
    dropped = {
        ExactRule(("date_of_birth", "sex")),
        ExactRule(("given_name", "surname", "sex")),
    }
    # a name with the street: about 1.4 x 10^8 pairs each at ten million records (counted
    # by a rebuild), past the default guard but what a rebuild there scores
    wider = {
        ExactRule(("surname", "street")): _XLARGE_MAX_CANDIDATES,
        ExactRule(("given_name", "street")): _XLARGE_MAX_CANDIDATES,
    }
    return BlockingRules(
        tuple(
            ExactRule(rule.segments, max_candidates=wider[rule]) if rule in wider else rule
            for rule in _large_blocking(hardened).rules
            if rule not in dropped and not (isinstance(rule, LshRule) and rule.parts != ("record",))
        )
    )


def default_training_rules() -> tuple[ExactRule, ...]:
    """EM sessions (as Splink's tutorials train): pairs of equal date of birth (fit the
    names, address, phone, sex), then pairs of equal names in either order (fit the rest)."""
    return (
        ExactRule(("date_of_birth",)),
        ExactRule(("given_name", "surname"), unordered=True),
    )
