"""``faker_us``: a US county's police, mental-health, emergency-department and
substance-use records of one synthetic population, made with Faker ``en_US``.

Written independently of the project's linkage model and of the other scenario
generators. Its assumptions, in short (``meta.json`` holds every rate in numbers):

* **Population** (:mod:`._population`): ``people`` persons aged 14-90 in a fictional
  Nevada county (Faker towns, NV ZIP codes, a shared pool of street names, "Apt."/"Suite"
  flats); ~14 % share an address with family (couples with one surname, children
  including adult ones, ~1 % twins, some with similar names); names with Faker's US
  frequencies, so common names recur; some Jr/Sr, two-part Hispanic surnames and
  hyphenated married names; a service-use propensity that correlates the agencies.
* **Agencies** (:mod:`._agencies`): four systems, each with its own columns, name order,
  case, date, sex, phone and address formats, and the column mapping a new operator
  writes for it with the options the agency client offers today. The police ``ADDRESS``
  column (street, city, state and ZIP in one) can only be mapped whole to
  ``street_address``.
* **Errors** (:mod:`._errors`): per-record rates of nicknames, keyboard typos, dropped
  middle names and initials, one part of a two-part surname, maiden names, suffixes in
  the surname, swapped day/month, DOB digit typos and years off by one, missing DOB,
  earlier addresses (the most common), missing and different phones, missing sex,
  duplicate registrations within an agency and transposed names.
* **Queries**: 300 of each kind of the contract; ``known_noisy`` goes through the same
  error model, strangers are extra people of the same population, never exported.

About 20,000 people give about 30,000 records. Every exported row is checked to map
through its mapping with the agency client's ``RowMapper``.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.scenarios.faker_us._generate import build_scenario, write_scenario
from benchmarks.scenarios.faker_us._verify import verify_exports

__all__ = ["generate"]


def generate(people: int, seed: int, out_dir: Path, *, queries_per_kind: int = 300) -> None:
    """Write the scenario of ``people`` people for ``seed`` into ``out_dir`` (deterministic).

    :raises ValueError: if an exported row does not map through its agency's mapping
        (a defect of this generator).
    """
    scenario = build_scenario(people, seed, queries_per_kind)
    out_dir = Path(out_dir)
    write_scenario(scenario, out_dir)
    verify_exports(out_dir)
