"""The demo's fixed cast and settings: linkage modes and thresholds, the agencies it
names, the person it looks up (and one nobody knows), and the result types of its steps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from linkage.errors import LinkageError

__all__ = [
    "DEFAULT_PROBABILITY_THRESHOLD",
    "DEFAULT_THRESHOLD",
    "GATEWAY_AGENCY",
    "LINKAGE_MODES",
    "MHC",
    "PROTAGONIST",
    "PROTAGONIST_AGENCIES",
    "PROTAGONIST_QUERY",
    "SUD",
    "UNKNOWN_QUERY",
    "CliResult",
    "DemoError",
    "PairQuality",
    "default_threshold",
]

#: How the demo's matcher links: ``probabilistic`` (the default: per-field segments scored
#: by a Fellegi-Sunter model, duplicate-aware average-link clusters; docs/quality.md) or
#: ``dice`` (one Dice score per record-level CLK, anonlink's greedy clustering).
LINKAGE_MODES: Final = ("probabilistic", "dice")
#: The probabilistic matcher's match-probability threshold.
DEFAULT_PROBABILITY_THRESHOLD: Final = 0.5
#: The Dice matcher's threshold for the shipped hardened schema. Keyed diffusion lowers
#: every Dice score (unrelated records sit near 0.43 instead of 0.77 with the plain
#: schema), so 0.8 would lose a third of true pairs. At 0.55 about 2 in 1,000,000
#: unrelated FEBRL pairs pass, FEBRL4 F1 is 0.987 and the demo's F1 0.914
#: (docs/hardening.md, docs/agency-client.md "Measured"); but on the multi-agency data a
#: responder's lookup of a stranger finds a look-alike neighbour at this threshold most of
#: the time (docs/quality.md "In the service"), which is why the demo runs probabilistic.
DEFAULT_THRESHOLD: Final = 0.55


def default_threshold(linkage: str) -> float:
    """The demo's threshold for a linkage mode (a probability or a Dice score)."""
    return DEFAULT_PROBABILITY_THRESHOLD if linkage == "probabilistic" else DEFAULT_THRESHOLD


#: The agency whose responder gateway the demo runs (the police).
GATEWAY_AGENCY: Final = "metro-police"
#: The mental-health centre (consents to crisis response by default).
MHC: Final = "valley-mhc"
#: The substance-use programme (no consent until the demo grants one).
SUD: Final = "harbour-sud"


def _protagonist() -> Any:
    from linkage.synth import Person

    return Person(
        person_id="P-DEMO",
        given_name="Jordan",
        middle_name="Avery",
        surname="Whitfield-Okoro",
        date_of_birth=date(1987, 3, 14),
        sex="f",
        mobile="412555019",
        street_no="27",
        street="Lyrebird Lane",
        suburb="Brunswick",
        postcode="3056",
        state="VIC",
    )


#: The person the demo looks up: known to the police, the mental-health centre and
#: the substance-use programme (not to the ER).
PROTAGONIST: Final = _protagonist()
PROTAGONIST_AGENCIES: Final = ("metro-police", "valley-mhc", "harbour-sud")
#: The lookup a responder types into the gateway for the protagonist.
PROTAGONIST_QUERY: Final[Mapping[str, str]] = {
    "given_name": "Jordan",
    "surname": "Whitfield-Okoro",
    "date_of_birth": "1987-03-14",
    "sex": "f",
    "phone": "0412 555 019",
    "street_address": "27 Lyrebird Lane",
    "suburb": "Brunswick",
    "postcode": "3056",
    "state": "VIC",
}
#: A person no agency knows, asked with the same fields.
UNKNOWN_QUERY: Final[Mapping[str, str]] = {
    "given_name": "Quillon",
    "surname": "Zzyzx-Abara",
    "date_of_birth": "1931-07-02",
    "sex": "m",
    "phone": "0499 000 111",
    "street_address": "1 Nowhere Track",
    "suburb": "Oodnadatta",
    "postcode": "5734",
    "state": "SA",
}


class DemoError(LinkageError):
    """A demo step failed; the message says which and points at its log."""


@dataclass(frozen=True, slots=True)
class CliResult:
    """One run of a real CLI."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


@dataclass(frozen=True, slots=True)
class PairQuality:
    """Pairwise linkage quality between two agencies."""

    agency_a: str
    agency_b: str
    true_pairs: int
    found_pairs: int
    correct_pairs: int

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.found_pairs if self.found_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0
