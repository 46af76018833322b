"""Withdrawals and consent changes planned as stored, resumable batches (the plan step of
:mod:`agency_client._workflow`'s two steps, for records the agency already uploaded)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agency_client._matcher import consent_to_proto
from agency_client._session import AgencySession, Batcher
from agency_client._state import EFFECT_CONSENT, EFFECT_WITHDRAW, Effect, UploadState
from linkage.consent import Consent, parse_consent, serialize_consent
from linkage.errors import FailedPreconditionError, NotFoundError, Problem
from linkage.v1 import ingest_pb2

__all__ = ["ConsentPlan", "plan_consent", "plan_withdrawal"]


def plan_withdrawal(
    session: AgencySession, state: UploadState, local_ids: Sequence[str], *, everything: bool
) -> int:
    """Store batches withdrawing ``local_ids`` (or everything); returns the records concerned."""
    if state.pending_summary()[0]:
        raise FailedPreconditionError("earlier batches are still pending; send them first")
    batcher = Batcher(session, "withdraw", withdraw_all=everything)
    if everything:
        batcher.flush(force=True)
        state.add_pending("withdraw", batcher.batches)
        return state.record_count()
    keys = _known_keys(session, state, local_ids)
    for key in dict.fromkeys(keys):
        batcher.add(
            ingest_pb2.RecordMutation(withdraw_record_key=key), Effect(key, EFFECT_WITHDRAW)
        )
    batcher.flush()
    state.add_pending("withdraw", batcher.batches)
    return len(set(keys))


def _known_keys(
    session: AgencySession, state: UploadState, local_ids: Sequence[str]
) -> list[bytes]:
    keys = [session.keys.record_key(local_id) for local_id in local_ids]
    unknown = [
        Problem(f"record ID #{i + 1}", "was never uploaded by this agency (or was withdrawn)")
        for i, key in enumerate(keys)
        if state.record(key) is None
    ]
    if unknown:
        raise NotFoundError(
            "some record IDs are not held by the matcher according to the local state; "
            "check the IDs (nothing was sent)",
            problems=unknown[:50],
        )
    return keys


# --------------------------------------------------------------------------- consent


@dataclass(frozen=True, slots=True)
class ConsentPlan:
    """One record's new consent (``None``: revoke the consent it has)."""

    local_id: str
    consent: Consent | None


def plan_consent(session: AgencySession, state: UploadState, changes: Sequence[ConsentPlan]) -> int:
    """Store batches of ConsentUpdate mutations; returns how many records they change."""
    if state.pending_summary()[0]:
        raise FailedPreconditionError("earlier batches are still pending; send them first")
    keys = _known_keys(session, state, [c.local_id for c in changes])
    batcher = Batcher(session, "consent")
    done: set[bytes] = set()
    for key, change in zip(keys, changes, strict=True):
        if key in done:
            continue
        done.add(key)
        if change.consent is None:
            entry = state.record(key)
            assert entry is not None
            consent = parse_consent(state.consent_bytes(entry.consent_id)).revoke()
        else:
            consent = change.consent
        consent_id = state.consent_id(serialize_consent(consent))
        batcher.add(
            ingest_pb2.RecordMutation(
                consent_update=ingest_pb2.ConsentUpdate(
                    record_key=key, consent=consent_to_proto(consent)
                )
            ),
            Effect(key, EFFECT_CONSENT, None, consent_id, True),
        )
    batcher.flush()
    state.add_pending("consent", batcher.batches)
    return len(done)
