"""geco_admin: a synthetic multi-agency scenario of administrative records of a
crisis-services population, with a GeCo-style error model (Tran, Vatsalan & Christen,
"GeCo: an online personal data generator and corruptor", CIKM 2013).

Written independently of the project's linkage model and of the other scenario
generators; see ``benchmarks/scenarios/README.md`` for the output contract.

Assumptions, in short (``meta.json`` holds them in words and numbers):

* Five agencies: a sheriff's jail booking system, a mobile mental-health crisis unit, a
  hospital emergency department, a substance-use detox programme and a sparse EMS
  service, each with its own columns, name order, date format, sex codes, phone and
  address formats and missingness (see ``_agencies``).
* A population (``_population``) with census-like names by sex and decade of birth,
  families (siblings, twins, JR/SR, spouses), 15 % unstable housing (shared shelter
  addresses, HOMELESS, PO boxes), moves, phone changes and surname changes.
* Per-attribute GeCo corruptions with per-agency probabilities (``_corrupt``,
  ``_observe``), placeholders (DOB 01/01/1900, phone 000-000-0000), unidentified
  emergency patients as people of their own, repeated bookings and frequent flyers.

``generate(people, seed, out_dir)`` is deterministic for a seed: it uses one
``random.Random(seed)`` only.
"""

from __future__ import annotations

from benchmarks.scenarios.geco_admin._generate import GENERATOR_NAME, generate, verify_exports

__all__ = ["GENERATOR_NAME", "generate", "verify_exports"]
