"""The checks of a write batch before anything of it is stored.

:class:`BatchValidator` refuses a batch that is too large, of an agency not enrolled, of
another linkage space, or with malformed mutations: every field limit of
:mod:`linkage.field_limits`, CLKs no encoding produces, consents that do not parse, that
disagree with the record's linkability or name agencies not enrolled, events in the
future. A batch is refused whole (:func:`refused_batch`), naming up to
:data:`MAX_PROBLEMS` problems, each with its path. :func:`check_epoch_in_force` refuses a
batch whose key epoch a rotation finished since it was validated.
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np

from linkage.consent import Consent, parse_consent, serialize_consent
from linkage.errors import (
    FailedPreconditionError,
    InvalidInputError,
    NotFoundError,
    Problem,
    ResourceExhaustedError,
)
from linkage.events import RecordEvent, too_late_problem
from linkage.field_limits import (
    MAX_EVENTS_PER_RECORD,
    MAX_POINTER_TOKEN_BYTES,
    MAX_RECORD_KEY_BYTES,
)
from linkage.security import record_clk_problems, records_to_check
from linkage.service._agencies import Agencies
from linkage.service._clock import datetime_from_us
from linkage.service._model import BATCH_ID_PATTERN, ConsentChange, RecordUpsert, WriteBatch
from linkage.service._state import ServiceState

__all__ = ["MAX_PROBLEMS", "BatchValidator", "check_epoch_in_force", "refused_batch"]

MAX_PROBLEMS = 100
"""The most problems a refused batch names."""


def refused_batch(batch: WriteBatch, problems: list[Problem]) -> InvalidInputError:
    """The error of a batch refused whole, naming each problem."""
    return InvalidInputError(
        f"batch {batch.batch_id!r} was refused; nothing of it was stored", problems=problems
    )


def check_epoch_in_force(batch: WriteBatch, state: ServiceState) -> None:
    """A key-epoch rotation that finished since the batch was validated (the catch-up just
    brought it) leaves the batch in an epoch no longer in force: refused, nothing stored."""
    if batch.key_epoch != state.settings.key_epoch:
        raise FailedPreconditionError(
            f"batch {batch.batch_id!r} is of key epoch {batch.key_epoch}, no longer in force "
            f"(a rotation finished: the matcher's key epoch is {state.settings.key_epoch}); "
            "nothing of it was stored"
        )


class _ConsentCheck:
    """The consents of one batch, checked at write so that every lookup, listing and
    status can read them back: canonical bytes within :data:`~linkage.field_limits.
    MAX_CONSENT_BYTES` that parse to a valid consent (at most :data:`~linkage.field_limits.
    MAX_RECIPIENT_AGENCIES` recipients), the record's linkability as the consent says, and
    every recipient agency enrolled. A batch's records mostly share one consent, so each
    distinct consent is parsed once."""

    def __init__(self, agencies: Agencies) -> None:
        self._agencies = agencies
        self._parsed: dict[bytes, Consent | list[Problem]] = {}
        self._enrolled: dict[str, bool] = {}

    def problems(self, data: bytes, linkable: bool, where: str) -> list[Problem]:
        """The problems of one mutation's consent, named under ``where``."""
        parsed = self._parsed.get(data)
        if parsed is None:
            parsed = self._parse(data)
            self._parsed[data] = parsed
        if isinstance(parsed, list):
            return [Problem(f"{where}{p.location.removeprefix('$')}", p.reason) for p in parsed]
        problems: list[Problem] = []
        if linkable != parsed.allow_linkage:
            problems.append(Problem(f"{where}.allow_linkage", "disagrees with the record's"))
        for agency_id in sorted(parsed.recipient_agencies):
            if not self._is_enrolled(agency_id):
                problems.append(
                    Problem(
                        f"{where}.recipient_agencies",
                        f"agency {agency_id!r} is not enrolled; a consent names enrolled "
                        "agencies only",
                    )
                )
        return problems

    def _parse(self, data: bytes) -> Consent | list[Problem]:
        try:
            consent = parse_consent(data)
        except InvalidInputError as exc:
            return list(exc.problems) or [Problem("$", exc.message.removeprefix("consent: "))]
        if serialize_consent(consent) != data:
            return [Problem("$", "must be the consent's canonical bytes")]
        return consent

    def _is_enrolled(self, agency_id: str) -> bool:
        known = self._enrolled.get(agency_id)
        if known is None:
            known = self._agencies.cached(agency_id) is not None
            self._enrolled[agency_id] = known
        return known


class _ClkLayout(TypedDict):
    record_words: tuple[int, int] | None
    segments: list[tuple[str, int, int]]


class BatchValidator:
    """The checks of the batches of one service (see the module docstring)."""

    def __init__(self, state: ServiceState, agencies: Agencies) -> None:
        self._state = state
        self._agencies = agencies

    def validate(self, batch: WriteBatch) -> None:
        """Refuse a batch that is too large, of an agency not enrolled, of another linkage
        space, or with malformed mutations (up to 100 problems, each with its path)."""
        limits, settings = self._state.limits, self._state.settings
        if len(batch.mutations) > limits.max_batch_mutations:
            raise ResourceExhaustedError(
                f"a batch may hold at most {limits.max_batch_mutations} mutations, "
                f"this one holds {len(batch.mutations)}; split it"
            )
        if self._agencies.cached(batch.agency_id) is None:
            raise NotFoundError(f"agency {batch.agency_id!r} is not enrolled")
        problems: list[Problem] = []
        if not BATCH_ID_PATTERN.match(batch.batch_id):
            problems.append(Problem("batch_id", "must be 1-128 of [A-Za-z0-9._:-]"))
        self._state.check_space(batch.key_epoch, batch.schema_fingerprint, problems)
        if problems:
            # another linkage space: one line says why, not one per record's CLK length
            raise refused_batch(batch, problems)
        seen: dict[bytes, int] = {}
        consents = _ConsentCheck(self._agencies)
        clk_len = settings.clk_bytes
        suspect = self.clks_to_check(batch, clk_len)
        for i, mutation in enumerate(batch.mutations):
            if len(problems) >= MAX_PROBLEMS:
                break
            where = f"mutations[{i}]"
            key = mutation.record_key
            if not key:
                problems.append(Problem(f"{where}.record_key", "must not be empty"))
            elif len(key) > MAX_RECORD_KEY_BYTES:
                problems.append(
                    Problem(f"{where}.record_key", f"must be at most {MAX_RECORD_KEY_BYTES} bytes")
                )
            elif key in seen:
                problems.append(
                    Problem(f"{where}.record_key", f"duplicates the key of mutations[{seen[key]}]")
                )
            else:
                seen[key] = i
            if isinstance(mutation, RecordUpsert):
                if len(mutation.clk) != clk_len:
                    problems.append(
                        Problem(
                            f"{where}.upsert.clk",
                            f"must be {clk_len} bytes ({settings.clk_bits} bits), "
                            f"got {len(mutation.clk)}",
                        )
                    )
                elif i in suspect:
                    problems.extend(self.clk_problems(mutation.clk, f"{where}.upsert.clk"))
                if not mutation.pointer_token:
                    problems.append(Problem(f"{where}.upsert.pointer_token", "must not be empty"))
                elif len(mutation.pointer_token) > MAX_POINTER_TOKEN_BYTES:
                    problems.append(
                        Problem(
                            f"{where}.upsert.pointer_token",
                            f"must be at most {MAX_POINTER_TOKEN_BYTES} bytes",
                        )
                    )
                problems.extend(
                    consents.problems(
                        mutation.consent, mutation.linkable, f"{where}.upsert.consent"
                    )
                )
                problems.extend(self.event_problems(mutation.events, f"{where}.upsert.events"))
            elif isinstance(mutation, ConsentChange):
                problems.extend(
                    consents.problems(
                        mutation.consent, mutation.linkable, f"{where}.consent_update.consent"
                    )
                )
        if problems:
            raise refused_batch(batch, problems[:MAX_PROBLEMS])

    def clks_to_check(self, batch: WriteBatch, clk_len: int) -> set[int]:
        """Positions of the upserts of the right length whose CLK
        :meth:`clk_problems` refuses (:func:`linkage.security.records_to_check`, by the same rules
        for the whole batch at once: the per-record check runs only for these)."""
        upserts = [
            (i, mutation.clk)
            for i, mutation in enumerate(batch.mutations)
            if isinstance(mutation, RecordUpsert) and len(mutation.clk) == clk_len
        ]
        positions = [i for i, _ in upserts]
        clks = [clk for _, clk in upserts]
        flagged = records_to_check(clks, **self._clk_layout())
        return {positions[k] for k in np.flatnonzero(flagged).tolist()}

    def clk_problems(self, clk: bytes, where: str) -> list[Problem]:
        """A CLK no encoding produces (all ones, a segment all ones, fill beyond a fixed
        bound; :func:`linkage.security.record_clk_problems`) is refused as at lookup."""
        return record_clk_problems(clk, where, **self._clk_layout())

    def _clk_layout(self) -> _ClkLayout:
        """Where a CLK's record part and field segments lie (whole CLK, no segments in
        Dice mode), as the plausibility rules take them."""
        probabilistic = self._state.settings.probabilistic
        if probabilistic is None:
            return {"record_words": None, "segments": []}
        layout = probabilistic.layout
        record = layout.record
        return {
            "record_words": None if record is None else (record.start_word, record.stop_word),
            "segments": [(part.name, part.start_word, part.stop_word) for part in layout.fields],
        }

    def event_problems(self, events: tuple[RecordEvent, ...], where: str) -> list[Problem]:
        """At most 1000 events, none in the future (by the matcher's clock)."""
        if len(events) > MAX_EVENTS_PER_RECORD:
            return [Problem(where, f"must be at most {MAX_EVENTS_PER_RECORD} events")]
        if not events:
            return []
        today = datetime_from_us(self._state.clock()).date()
        found = (too_late_problem(e, today, f"{where}[{i}]") for i, e in enumerate(events))
        return [p for p in found if p is not None]
