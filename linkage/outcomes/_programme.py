"""The programme's own settings for outcome releases (``programme.toml`` beside the
matcher's server.toml, kept by the operator, not by whoever writes a spec):

```toml
[programme]
id = "metro-coresponder"          # the privacy-budget ledger's key
budget_epsilon = 10.0             # all releases of the programme together
agreement_allows_evaluation = false
min_cell = 11                     # a spec may suppress more, never less
```

``agreement_allows_evaluation = true`` says the programme's data-sharing agreement allows
aggregate evaluation of every record's events; otherwise only the events of records whose
consent names the purpose ``evaluation`` count. The rule in force is printed with every
release. Pure: :func:`load_programme` takes the text.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from typing import Final

from pydantic import Field

from linkage.errors import ConfigError, InvalidInputError, Problem
from linkage.identity import AGENCY_ID_PATTERN
from linkage.outcomes._spec import DEFAULT_MIN_CELL
from linkage.validation import Findings, Table, check

__all__ = ["PROGRAMME_FILE", "Programme", "load_programme"]

#: The programme file's name beside server.toml.
PROGRAMME_FILE: Final = "programme.toml"
_RULE_CONSENT: Final = (
    "events count only where the record's consent names the purpose 'evaluation' "
    "(and has not expired or been revoked)"
)
_RULE_AGREEMENT: Final = (
    "the programme's data-sharing agreement allows aggregate evaluation: the events of "
    "every record that takes part in linkage (consent not revoked) count"
)


@dataclass(frozen=True, slots=True)
class Programme:
    """A programme: its ledger key, its privacy budget, the evaluation rule and the
    smallest small-cell threshold a release may use."""

    id: str
    budget_epsilon: float
    agreement_allows_evaluation: bool = False
    min_cell: int = DEFAULT_MIN_CELL

    def __post_init__(self) -> None:
        problems = []
        if AGENCY_ID_PATTERN.fullmatch(self.id) is None:
            problems.append(
                Problem("programme.id", "must be 2-63 of a-z, 0-9 and '-', from a letter")
            )
        if not 0.0 < self.budget_epsilon <= 1000.0:
            problems.append(Problem("programme.budget_epsilon", "must be > 0 and <= 1000"))
        if not 1 <= self.min_cell <= 1000:
            problems.append(Problem("programme.min_cell", "must be between 1 and 1000"))
        if problems:
            raise InvalidInputError("invalid programme", problems=problems)

    @property
    def rule(self) -> str:
        """The evaluation rule in force, in words (printed with every release)."""
        return _RULE_AGREEMENT if self.agreement_allows_evaluation else _RULE_CONSENT


class ProgrammeTable(Table):
    """``[programme]``."""

    id: str
    budget_epsilon: float = Field(description="the privacy budget of all releases, > 0")
    agreement_allows_evaluation: bool = False
    min_cell: int = DEFAULT_MIN_CELL


class ProgrammeToml(Table):
    model_config = Table.model_config | {"title": "programme.toml"}

    programme: ProgrammeTable


def load_programme(text: str, source: str = PROGRAMME_FILE) -> Programme:
    """Parse and validate a programme file's TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source} is not valid TOML: {exc}") from None
    document, problems = check(ProgrammeToml, data)
    findings = Findings(problems)
    programme = None
    if document is not None:
        t = document.programme
        programme = findings.build(
            lambda: Programme(t.id, t.budget_epsilon, t.agreement_allows_evaluation, t.min_cell)
        )
    if findings or programme is None:
        raise ConfigError(f"invalid {source}", problems=findings.problems)
    return programme
