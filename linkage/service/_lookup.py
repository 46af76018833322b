"""Lookups and disclosure: a responder's query CLK to the records it may see, audited.

:meth:`Lookups.lookup` runs, in order:

1. the **rate limits**, per certificate and per agency and role (a refusal is audited);
2. the query's **shape**: linkage space, purpose, ``max_links``, CLK length (a refusal is
   audited, naming the fields at fault); refusals are audited through
   :class:`~linkage.service._refusals.RefusalAudit`, one entry per principal, reason and
   minute with a count, so a flood of refusals is not a flood of audit entries;
3. **plausibility** (:meth:`Lookups.check_plausible`): a query CLK no real query encodes
   to is refused, naming what is wrong (and audited);
4. **search** (:meth:`Lookups.search`): after catching up with other processes' changes,
   the best indexed records at or above the lookup threshold: a Dice scan in Dice mode;
   in probabilistic mode the candidates sharing an exact blocking key (plus the nearest by
   Dice with ``lookup_scan``) scored with the model in force, behind the lookup gate;
5. **consent**: each member of a matched link is disclosed only where its consent allows
   this principal and purpose now (:func:`linkage.consent.may_disclose`);
6. **audit**: one audit entry naming the matched and disclosed links and records, and one
   disclosure row per disclosed record (the agency's accounting of disclosures), in the
   same transaction.

A lookup with no match and one whose matches are all hidden return the same empty list.
"""

from __future__ import annotations

import base64
import time
from collections import defaultdict
from datetime import datetime

import numpy as np

from linkage.consent import Consent, Purpose, may_disclose
from linkage.errors import (
    FailedPreconditionError,
    InvalidInputError,
    Problem,
    ResourceExhaustedError,
)
from linkage.match import pack_clk_bytes
from linkage.pki import Principal
from linkage.security import (
    RateLimiter,
    band_from_range,
    check_query_clk_plausible,
    check_segments_plausible,
)
from linkage.service._agencies import Agencies
from linkage.service._clock import datetime_from_us
from linkage.service._model import DisclosedMember, LinkHit
from linkage.service._observer import LookupOutcome
from linkage.service._probabilistic import search_index
from linkage.service._refusals import RefusalAudit
from linkage.service._state import ServiceState
from linkage.service._stored_consent import read_stored_consent
from linkage.store import DisclosureRow, LinkMember, ReadPositions
from linkage.types import PackedClks

__all__ = ["Lookups", "record_name"]

#: Links a lookup returns when the caller asks for 0 (the default).
_DEFAULT_LINKS = 5
#: Equal work for every lookup (the timing of an answer must not tell a person the index
#: holds but may not disclose from a stranger): candidates scored, nodes whose links are
#: read, links whose members (and consents) are read, at least this many, padded with
#: records drawn at random and discarded.
_WORK_CANDIDATES = 64
_WORK_NODES = 8
_WORK_LINKS = 4
#: Most records a lookup scores before grouping them by link.
_MAX_CANDIDATES = 100
_DISCLOSABLE_PAGE = 5000


class Lookups:
    """Lookups and the disclosure accounting of one service."""

    def __init__(
        self,
        state: ServiceState,
        agencies: Agencies,
        limiter: RateLimiter,
        refusals: RefusalAudit,
        *,
        agency_limiter: RateLimiter | None = None,
        audit_lookups: bool = True,
    ) -> None:
        """``limiter`` is per certificate, ``agency_limiter`` per agency and role (by
        default one with the per-certificate limit, on the same clock)."""
        self._state = state
        self._agencies = agencies
        self._limiter = limiter
        if agency_limiter is None:  # (a limiter holding no bucket yet is falsy: len 0)
            agency_limiter = RateLimiter(
                limiter.limit.rate_per_s, limiter.limit.burst, limiter.clock
            )
        self._agency_limiter = agency_limiter
        self._refusals = refusals
        self._audit_lookups = audit_lookups
        # draws the padding of equal work (not security-relevant: which records pad a
        # lookup's work is never shown to anyone)
        self._rng = np.random.default_rng()

    def lookup(
        self,
        actor: Principal,
        clk: bytes,
        key_epoch: int,
        schema_fingerprint: str,
        purpose: str,
        max_links: int,
    ) -> list[LinkHit]:
        """The links matching a query CLK, with the members the actor may see.

        A query with no match and one whose matches are all hidden return the
        same empty list. Every call, refused ones included, is audited.
        """
        observer = self._state.observer
        started = time.perf_counter()
        try:
            hits = self._lookup(actor, clk, key_epoch, schema_fingerprint, purpose, max_links)
        except ResourceExhaustedError:
            observer.lookup_finished(LookupOutcome.RATE_LIMITED, time.perf_counter() - started)
            raise
        except InvalidInputError:
            observer.lookup_finished(LookupOutcome.REFUSED, time.perf_counter() - started)
            raise
        outcome = LookupOutcome.DISCLOSED if hits else LookupOutcome.NOTHING
        observer.lookup_finished(outcome, time.perf_counter() - started)
        return hits

    def _lookup(
        self,
        actor: Principal,
        clk: bytes,
        key_epoch: int,
        schema_fingerprint: str,
        purpose: str,
        max_links: int,
    ) -> list[LinkHit]:
        state = self._state
        settings = state.settings
        self._take_rate(actor)
        problems: list[Problem] = []
        state.check_space(key_epoch, schema_fingerprint, problems)
        try:
            purpose_value = Purpose(purpose)
        except ValueError:
            known = ", ".join(p.value for p in Purpose if p is not Purpose.EVALUATION)
            problems.append(Problem("purpose", f"must be one of {known}"))
        else:
            if purpose_value is Purpose.EVALUATION:
                problems.append(
                    Problem("purpose", "evaluation is an aggregate purpose; no lookup may state it")
                )
        limit = state.limits.max_links_per_lookup
        if max_links < 0 or max_links > limit:
            problems.append(Problem("max_links", f"must be in [0, {limit}]"))
        if len(clk) != settings.clk_bytes:
            problems.append(Problem("clk", f"must be {settings.clk_bytes} bytes, got {len(clk)}"))
        if problems:
            self._refusals.refused(
                actor, "lookup.refused", "invalid_request", [p.location for p in problems]
            )
            raise InvalidInputError("lookup refused", problems=problems)
        try:
            self.check_plausible(clk)
        except InvalidInputError as refused:
            self._refusals.refused(
                actor,
                "lookup.refused",
                "implausible_query",
                [p.location for p in refused.problems],
            )
            raise
        wanted = max_links or _DEFAULT_LINKS
        positions = state.store.read_positions()  # the feed and the runs in one read
        state.catch_up_for_reads(positions.last_index_change)
        query = pack_clk_bytes([clk], settings.clk_bits)
        found = self.search(query, min(4 * wanted, _MAX_CANDIDATES), positions)
        found_nodes = [node for node, _ in found]
        padding = [
            n
            for n in state.mirror.index.sample_keys(_WORK_NODES, self._rng).tolist()
            if n not in set(found_nodes)
        ][: max(0, _WORK_NODES - len(found_nodes))]
        # the nodes' links and those links' members in one read; members of padding links
        # beyond the spare ones are dropped unread
        node_links, members = state.store.node_links_with_members(found_nodes + padding)
        link_order: list[int] = []
        for node, _ in found:
            link = node_links.get(node)
            if link is not None and link not in link_order:
                link_order.append(link)
        spare = [
            link
            for link in dict.fromkeys(node_links.get(n) for n in padding)
            if link is not None and link not in link_order
        ][: max(0, _WORK_LINKS - len(link_order))]
        members_by_link: dict[int, list[LinkMember]] = defaultdict(list)
        read = set(link_order) | set(spare)
        for member in members:
            if member.link_id in read:
                members_by_link[member.link_id].append(member)
        now = state.clock()
        now_dt = datetime_from_us(now)
        for link in spare:  # the same consent work for the padding, then discarded
            for member in members_by_link.pop(link, ()):
                _may_disclose(member, actor, purpose_value, now_dt)
        hits: list[LinkHit] = []
        disclosed_rows: list[tuple[LinkMember, int]] = []
        for link in link_order:
            visible: list[DisclosedMember] = []
            for member in members_by_link[link]:
                if _may_disclose(member, actor, purpose_value, now_dt):
                    agency = self._agencies.cached(member.agency_id)
                    visible.append(
                        DisclosedMember(
                            agency_id=member.agency_id,
                            contact_card=agency.contact_card if agency else b"",
                            pointer_token=member.pointer_token,
                            consent=member.consent,
                            agency_display_name=agency.display_name if agency else "",
                        )
                    )
                    disclosed_rows.append((member, link))
            if visible and len(hits) < wanted:
                hits.append(LinkHit(link_id=link, members=tuple(visible)))
        shown = {hit.link_id for hit in hits}
        disclosed_rows = [(m, link) for m, link in disclosed_rows if link in shown]
        if not self._audit_lookups:
            return hits
        with state.store.write() as tx:
            sequence = state.audit(
                tx,
                actor,
                "lookup",
                [f"links/{link}" for link in link_order],
                {
                    "purpose": purpose_value.value,
                    "matched_links": len(link_order),
                    "disclosed_links": [f"links/{h.link_id}" for h in hits],
                    "disclosed_records": [
                        record_name(m.agency_id, m.record_key) for m, _ in disclosed_rows
                    ],
                },
                now,
            )
            tx.insert_disclosures(
                DisclosureRow(
                    agency_id=m.agency_id,
                    record_key=m.record_key,
                    link_id=link,
                    recipient=actor.actor,
                    recipient_agency=actor.agency_id or "",
                    purpose=purpose_value.value,
                    disclose_time_us=now,
                    audit_sequence=sequence,
                )
                for m, link in disclosed_rows
            )
        return hits

    def _take_rate(self, actor: Principal) -> None:
        """One lookup from the certificate's bucket and from its agency and role's bucket
        (shared by all of that agency's certificates of that role, so a second certificate
        gets no fresh bucket); a refusal is audited and gives nothing back."""
        if not self._limiter.try_acquire(actor.actor):
            self._refusals.refused(actor, "lookup.refused", "rate_limited")
            raise ResourceExhaustedError(
                "too many lookups; wait a moment and retry (limits.lookup_rate_per_s and "
                "lookup_burst, per certificate)"
            )
        agency_key = (actor.role.value, actor.agency_id)
        if not self._agency_limiter.try_acquire(agency_key):
            self._limiter.refund(actor.actor)
            self._refusals.refused(actor, "lookup.refused", "agency_rate_limited")
            raise ResourceExhaustedError(
                f"too many lookups by agency {actor.agency_id}'s {actor.role.value} "
                "certificates together; wait a moment and retry "
                "(limits.lookup_agency_rate_per_s and lookup_agency_burst)"
            )

    def check_plausible(self, clk: bytes) -> None:
        """Refuse a query CLK no real query encodes to (an all-ones probe, a foreign
        encoding), naming what is wrong.

        Dice mode: the CLK's popcount must lie in the band the index's fill suggests.
        Probabilistic mode: the record part may have fewer bits than any indexed record
        (a query with a name and date of birth only is valid), but not more than the
        band allows; every field segment must look like a real encoding, a name must be
        there and the date of birth, the phone or the street.
        """
        state = self._state
        start, stop = state.mirror.band_words
        band = state.mirror.plausibility_band()
        probabilistic = state.settings.probabilistic
        if probabilistic is None:
            check_query_clk_plausible(clk[start * 8 : stop * 8], band)
            return
        check_query_clk_plausible(
            clk[start * 8 : stop * 8], band_from_range(band.bits, 1, band.high)
        )
        layout = probabilistic.layout
        words = pack_clk_bytes([clk], state.settings.clk_bits)[0]
        check_segments_plausible(
            words,
            [
                (part.name, part.start_word, part.stop_word, part.name in layout.key_sets)
                for part in layout.fields
            ],
            required=[
                tuple(n for n in ("given_name", "surname") if n in layout.names),
                tuple(n for n in ("date_of_birth", "phone", "street") if n in layout.names),
            ],
        )

    def search(
        self, query: PackedClks, k: int, positions: ReadPositions | None = None
    ) -> list[tuple[int, float]]:
        """The best ``k`` indexed records for one packed query, ``(node, score)`` with the
        score at or above the lookup threshold, best first (ties: lower node first).

        Dice mode scans the index for Dice. Probabilistic mode scores the
        ``lookup_candidates`` records nearest by whole-CLK Dice with the model: the match
        probability, not a Dice, decides (the model of the newest linkage run: of
        ``positions`` when the caller has just read them, else read here).
        """
        state = self._state
        threshold = state.settings.effective_lookup_threshold
        probabilistic = state.settings.probabilistic
        if probabilistic is None:
            (hits,) = state.mirror.index.search(query, threshold, k)
            return [(node, score) for score, node in hits.as_tuples()]
        latest = (positions or state.store.read_positions()).last_run_id
        if latest is not None and latest != state.model_run_id:
            with state.writer:  # another process rebuilt: its model now decides
                state.refresh_model()
        linker = state.linker
        if linker is None:  # pragma: no cover - set whenever the settings are probabilistic
            raise FailedPreconditionError("the probabilistic linker is not loaded")
        return search_index(
            state.mirror.index,
            linker,
            query,
            keyed=state.mirror.key_candidates(query),
            scan=probabilistic.lookup_scan,
            candidates=probabilistic.lookup_candidates,
            threshold=threshold,
            k=k,
            frequencies=state.mirror.frequencies,
            require=probabilistic.lookup_requires,
            pad_to=_WORK_CANDIDATES,
            rng=self._rng,
        )

    # ---------------------------------------------------------- disclosures
    def disclosable_count(self, agency_id: str) -> int:
        """Records of an agency whose consent allows disclosure to someone now."""
        state = self._state
        now_dt = datetime_from_us(state.clock())
        count = 0
        after = b""
        warned: set[tuple[str, str]] = set()  # one warning per problem in this scan
        while True:
            page = state.store.list_records(agency_id, after, _DISCLOSABLE_PAGE)
            for record in page:
                consent = read_stored_consent(record.consent, agency_id, warned)
                if consent is not None and consent.discloses_at(now_dt):
                    count += 1
            if len(page) < _DISCLOSABLE_PAGE:
                return count
            after = page[-1].record_key

    def list_disclosures(
        self, agency_id: str, before_id: int | None, limit: int
    ) -> list[tuple[int, DisclosureRow]]:
        """The accounting of disclosures of an agency's records, newest first."""
        return self._state.store.list_disclosures(agency_id, before_id, limit)


def _may_disclose(member: LinkMember, actor: Principal, purpose: Purpose, now: datetime) -> bool:
    """Whether a matched record may be shown: a stored consent that cannot be read (see
    :mod:`._stored_consent`) discloses nothing, and the rest of the lookup goes on."""
    consent: Consent | None = read_stored_consent(member.consent, member.agency_id)
    return consent is not None and may_disclose(consent, actor, purpose, now)


def record_name(agency_id: str, record_key: bytes) -> str:
    """The resource name of a record in the audit log (its key base64url-encoded)."""
    return f"agencies/{agency_id}/records/{base64.urlsafe_b64encode(record_key).decode()}"
