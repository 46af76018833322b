"""The settings the quality benchmark measured, for the default person segments.

They go with the segments block of :func:`linkage.encode.default_segmented_schema` (one
segment per feature group: ``given_name``, ``middle_name``, ``surname``, ``date_of_birth``,
``sex``, ``phone``, ``street``, ``locality``; given name and surname in one key group).
``hardened=True`` for diffused segments (the shipped default), ``False`` for plain Bloom
filter segments. docs/quality.md gives the figures behind them.
"""

from __future__ import annotations

from linkage.match import HammingLsh
from linkage.probabilistic._blocking import BlockingRules, ExactRule, LshRule
from linkage.probabilistic._model import Comparison

__all__ = ["default_blocking", "default_comparisons", "default_training_rules"]


def default_comparisons(hardened: bool = True) -> tuple[Comparison, ...]:
    """Comparison levels per segment (cut points on the segment Dice)."""
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


def default_blocking(hardened: bool = True, *, wide: bool = False) -> BlockingRules:
    """The union of blocking rules.

    Segment-level LSH only on diffused segments (about a third of their bits set); a plain
    segment filter is so sparse that sampled bits are mostly 0 and most pairs would collide.
    ``wide`` adds looser LSH rules (fewer bits per band) that find a few more heavily
    corrupted matches at many more candidates: for small data sets (tens of thousands of
    records; about 1.1 M candidates on FEBRL4's 5,000 x 5,000 records).
    """
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


def default_training_rules() -> tuple[ExactRule, ...]:
    """EM sessions (as Splink's tutorials train): pairs of equal date of birth (fit the
    names, address, phone, sex), then pairs of equal names in either order (fit the rest)."""
    return (
        ExactRule(("date_of_birth",)),
        ExactRule(("given_name", "surname"), unordered=True),
    )
