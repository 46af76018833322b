"""The gRPC servicers: thin conversions between linkage.v1 and the service.

Authentication, authorisation and error mapping happen in the interceptor;
each method here reads the caller from :func:`current_principal`, checks the
agency scope where a request names an agency, and converts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from linkage.errors import InvalidInputError, Problem, ResourceExhaustedError
from linkage.security import require_same_agency
from linkage.server._calls import run_blocking
from linkage.server._convert import (
    agency_id_from_name,
    bytes_to_page_token,
    contact_card_from_bytes,
    contact_card_to_bytes,
    decimal_page_token,
    mutation_from_proto,
    page_token_to_bytes,
    record_key_name,
    sequence_from_request,
    stored_consent_to_proto,
    timestamp_from_us,
)
from linkage.server._interceptor import current_principal
from linkage.service import (
    UNREADABLE_CONSENT,
    BatchOutcome,
    DisclosedMember,
    LinkageService,
    WriteBatch,
    proposal_digest,
    read_stored_consent,
)
from linkage.store import AgencyRow, ContactCardProposalRow, EventKind
from linkage.v1 import (
    common_pb2,
    ingest_pb2,
    ingest_pb2_grpc,
    lookup_pb2,
    lookup_pb2_grpc,
    operator_pb2,
    operator_pb2_grpc,
)
from linkage.wire import consent_to_proto

__all__ = ["IngestServicer", "LookupServicer", "OperatorServicer", "registrars"]

_EVENT_KIND = {
    EventKind.BATCH_COMMITTED: operator_pb2.Event.KIND_BATCH_COMMITTED,
    EventKind.RECORD_WITHDRAWN: operator_pb2.Event.KIND_RECORD_WITHDRAWN,
    EventKind.LINK_CREATED: operator_pb2.Event.KIND_LINK_CREATED,
    EventKind.LINK_JOINED: operator_pb2.Event.KIND_LINK_JOINED,
    EventKind.LINK_MERGED: operator_pb2.Event.KIND_LINK_MERGED,
    EventKind.LINK_SPLIT: operator_pb2.Event.KIND_LINK_SPLIT,
    EventKind.LINK_DISSOLVED: operator_pb2.Event.KIND_LINK_DISSOLVED,
    EventKind.LINK_LEFT: operator_pb2.Event.KIND_LINK_LEFT,
    EventKind.LINKS_REBUILT: operator_pb2.Event.KIND_LINKS_REBUILT,
    EventKind.AGENCY_CHANGED: operator_pb2.Event.KIND_AGENCY_CHANGED,
}


def _page_size(value: int, default: int, maximum: int) -> int:
    if value < 0 or value > maximum:
        raise InvalidInputError(
            "invalid page size", problems=[Problem("page_size", f"must be in [0, {maximum}]")]
        )
    return value or default


def _batch_response(outcome: BatchOutcome) -> ingest_pb2.WriteBatchResponse:
    return ingest_pb2.WriteBatchResponse(
        name=f"agencies/{outcome.agency_id}/batches/{outcome.batch_id}",
        replayed=outcome.replayed,
        inserted_count=outcome.inserted,
        updated_count=outcome.updated,
        unchanged_count=outcome.unchanged,
        withdrawn_count=outcome.withdrawn,
        consent_updated_count=outcome.consent_updated,
        linked_count=outcome.linked,
        commit_time=timestamp_from_us(outcome.commit_time_us),
    )


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    """Agencies write their own records."""

    def __init__(self, service: LinkageService) -> None:
        self._service = service

    def _batch(self, request: ingest_pb2.WriteBatchRequest) -> WriteBatch:
        agency_id = agency_id_from_name(request.parent, "parent")
        require_same_agency(current_principal(), agency_id)
        limit = self._service.limits.max_batch_mutations
        if len(request.mutations) > limit:
            raise ResourceExhaustedError(
                f"a batch may hold at most {limit} mutations, this one holds "
                f"{len(request.mutations)}; split it"
            )
        mutations = []
        problems: list[Problem] = []
        for i, message in enumerate(request.mutations):
            try:
                mutations.append(mutation_from_proto(message, i))
            except InvalidInputError as exc:
                problems.extend(exc.problems or [Problem(f"mutations[{i}]", exc.message)])
        if problems:
            raise InvalidInputError(
                f"batch {request.batch_id!r} was refused; nothing of it was stored",
                problems=problems,
            )
        return WriteBatch(
            agency_id=agency_id,
            batch_id=request.batch_id,
            key_epoch=request.key_epoch,
            schema_fingerprint=request.schema_fingerprint,
            mutations=tuple(mutations),
            withdraw_all=request.withdraw_all,
        )

    def WriteBatch(
        self, request: ingest_pb2.WriteBatchRequest, context: grpc.ServicerContext
    ) -> ingest_pb2.WriteBatchResponse:
        outcome = self._service.write_batch(current_principal(), self._batch(request))
        return _batch_response(outcome)

    async def StreamWriteBatches(
        self,
        request_iterator: AsyncIterator[ingest_pb2.WriteBatchRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[ingest_pb2.WriteBatchResponse]:
        # asynchronous, so that a stream waiting for its next batch holds no thread;
        # each batch is written in the worker pool (linkage.server._calls)
        principal = current_principal()
        async for request in request_iterator:
            batch = self._batch(request)
            outcome = await run_blocking(self._service.write_batch, principal, batch)
            yield _batch_response(outcome)

    def ListRecords(
        self, request: ingest_pb2.ListRecordsRequest, context: grpc.ServicerContext
    ) -> ingest_pb2.ListRecordsResponse:
        agency_id = agency_id_from_name(request.parent, "parent")
        require_same_agency(current_principal(), agency_id)
        size = _page_size(request.page_size, 1000, 10000)
        after = page_token_to_bytes(request.page_token)
        rows = self._service.list_records(agency_id, after, size + 1)
        warned: set[tuple[str, str]] = set()  # one warning per problem in this page
        response = ingest_pb2.ListRecordsResponse(
            records=[
                ingest_pb2.RecordInfo(
                    name=record_key_name(agency_id, row.record_key),
                    record_key=row.record_key,
                    consent=consent_to_proto(
                        read_stored_consent(row.consent, agency_id, warned) or UNREADABLE_CONSENT
                    ),
                    linked=row.linked,
                    update_time=timestamp_from_us(row.update_time_us),
                )
                for row in rows[:size]
            ]
        )
        if len(rows) > size:
            response.next_page_token = bytes_to_page_token(rows[size - 1].record_key)
        return response

    def GetAgencyStatus(
        self, request: ingest_pb2.GetAgencyStatusRequest, context: grpc.ServicerContext
    ) -> ingest_pb2.AgencyStatus:
        agency_id = agency_id_from_name(request.name, "name")
        require_same_agency(current_principal(), agency_id)
        counts = self._service.agency_counts(agency_id)
        status = ingest_pb2.AgencyStatus(
            name=request.name,
            record_count=counts.record_count,
            linked_record_count=counts.linked_record_count,
            disclosable_record_count=self._service.disclosable_count(agency_id),
            batch_count=counts.batch_count,
        )
        head = self._service.audit_head()
        if head is not None:
            status.audit_head.sequence = head.sequence
            status.audit_head.entry_hash = head.entry_hash
        if counts.last_batch_id is not None and counts.last_batch_time_us is not None:
            status.last_batch = f"agencies/{agency_id}/batches/{counts.last_batch_id}"
            status.last_batch_commit_time.CopyFrom(timestamp_from_us(counts.last_batch_time_us))
        return status

    def ListDisclosures(
        self, request: ingest_pb2.ListDisclosuresRequest, context: grpc.ServicerContext
    ) -> ingest_pb2.ListDisclosuresResponse:
        agency_id = agency_id_from_name(request.parent, "parent")
        require_same_agency(current_principal(), agency_id)
        size = _page_size(request.page_size, 1000, 10000)
        before = decimal_page_token(request.page_token)
        rows = self._service.list_disclosures(agency_id, before, size + 1)
        response = ingest_pb2.ListDisclosuresResponse(
            disclosures=[
                ingest_pb2.Disclosure(
                    record=record_key_name(row.agency_id, row.record_key),
                    link=f"links/{row.link_id}",
                    recipient=row.recipient,
                    recipient_agency=row.recipient_agency,
                    purpose=row.purpose,
                    disclose_time=timestamp_from_us(row.disclose_time_us),
                    audit_sequence=row.audit_sequence,
                )
                for _, row in rows[:size]
            ]
        )
        if len(rows) > size:
            response.next_page_token = str(rows[size - 1][0])
        return response

    def GetContactCard(
        self, request: ingest_pb2.GetContactCardRequest, context: grpc.ServicerContext
    ) -> ingest_pb2.AgencyContactCard:
        agency_id = agency_id_from_name(request.name, "name")
        require_same_agency(current_principal(), agency_id)
        row = self._service.get_agency(agency_id)
        return _agency_card(row, self._service.contact_card_proposal(agency_id))

    def ConfirmContactCard(
        self, request: ingest_pb2.ConfirmContactCardRequest, context: grpc.ServicerContext
    ) -> ingest_pb2.AgencyContactCard:
        agency_id = agency_id_from_name(request.name, "name")
        principal = current_principal()
        require_same_agency(principal, agency_id)
        row = self._service.settle_contact_card(
            principal, agency_id, request.digest, reject=request.reject
        )
        return _agency_card(row, None)


class LookupServicer(lookup_pb2_grpc.LookupServiceServicer):
    """Responders look up."""

    def __init__(self, service: LinkageService) -> None:
        self._service = service

    def Lookup(
        self, request: lookup_pb2.LookupRequest, context: grpc.ServicerContext
    ) -> lookup_pb2.LookupResponse:
        hits = self._service.lookup(
            current_principal(),
            request.clk,
            request.key_epoch,
            request.schema_fingerprint,
            request.purpose,
            request.max_links,
        )
        return lookup_pb2.LookupResponse(
            links=[
                lookup_pb2.LinkMatch(
                    link=f"links/{hit.link_id}",
                    records=[
                        lookup_pb2.DisclosedRecord(
                            agency=f"agencies/{member.agency_id}",
                            contact_card=_card_naming_the_agency(member),
                            pointer_token=member.pointer_token,
                            consent=stored_consent_to_proto(member.consent),
                        )
                        for member in hit.members
                    ],
                )
                for hit in hits
            ]
        )


def _agency_proto(row: AgencyRow, proposal: ContactCardProposalRow | None) -> operator_pb2.Agency:
    agency = operator_pb2.Agency(
        name=f"agencies/{row.agency_id}",
        display_name=row.display_name,
        contact_card=contact_card_from_bytes(row.contact_card),
        create_time=timestamp_from_us(row.create_time_us),
    )
    if proposal is not None:
        agency.proposal.CopyFrom(_proposal_proto(proposal))
    return agency


def _proposal_proto(proposal: ContactCardProposalRow) -> common_pb2.ContactCardProposal:
    return common_pb2.ContactCardProposal(
        display_name=proposal.display_name,
        contact_card=contact_card_from_bytes(proposal.contact_card),
        proposed_by=proposal.proposed_by,
        propose_time=timestamp_from_us(proposal.propose_time_us),
        digest=proposal_digest(proposal),
    )


def _agency_card(
    row: AgencyRow, proposal: ContactCardProposalRow | None
) -> ingest_pb2.AgencyContactCard:
    card = ingest_pb2.AgencyContactCard(
        name=f"agencies/{row.agency_id}",
        display_name=row.display_name,
        contact_card=contact_card_from_bytes(row.contact_card),
    )
    if proposal is not None:
        card.proposal.CopyFrom(_proposal_proto(proposal))
    return card


class OperatorServicer(operator_pb2_grpc.OperatorServiceServicer):
    """The operator runs the index. Never returns pointers, CLKs or consent."""

    def __init__(self, service: LinkageService) -> None:
        self._service = service

    def CreateAgency(
        self, request: operator_pb2.CreateAgencyRequest, context: grpc.ServicerContext
    ) -> operator_pb2.Agency:
        row = self._service.create_agency(
            current_principal(),
            request.agency_id,
            request.agency.display_name,
            contact_card_to_bytes(request.agency.contact_card),
        )
        return _agency_proto(row, None)

    def GetAgency(
        self, request: operator_pb2.GetAgencyRequest, context: grpc.ServicerContext
    ) -> operator_pb2.Agency:
        agency_id = agency_id_from_name(request.name, "name")
        row = self._service.get_agency(agency_id)
        return _agency_proto(row, self._service.contact_card_proposal(agency_id))

    def ListAgencies(
        self, request: operator_pb2.ListAgenciesRequest, context: grpc.ServicerContext
    ) -> operator_pb2.ListAgenciesResponse:
        size = _page_size(request.page_size, 100, 1000)
        rows = self._service.list_agencies(request.page_token, size + 1)
        response = operator_pb2.ListAgenciesResponse(
            agencies=[
                _agency_proto(r, self._service.contact_card_proposal(r.agency_id))
                for r in rows[:size]
            ]
        )
        if len(rows) > size:
            response.next_page_token = rows[size - 1].agency_id
        return response

    def UpdateAgency(
        self, request: operator_pb2.UpdateAgencyRequest, context: grpc.ServicerContext
    ) -> operator_pb2.Agency:
        row, proposal = self._service.propose_agency_change(
            current_principal(),
            agency_id_from_name(request.agency.name, "agency.name"),
            request.agency.display_name,
            contact_card_to_bytes(request.agency.contact_card),
        )
        return _agency_proto(row, proposal)

    def RebuildLinks(
        self, request: operator_pb2.RebuildLinksRequest, context: grpc.ServicerContext
    ) -> operator_pb2.LinkageRun:
        run = self._service.rebuild(current_principal(), request.reason)
        return operator_pb2.LinkageRun(
            name=f"linkageRuns/{run.run_id}",
            start_time=timestamp_from_us(run.start_time_us),
            end_time=timestamp_from_us(run.end_time_us),
            record_count=run.record_count,
            candidate_pair_count=run.candidate_pair_count,
            link_count=run.link_count,
            changed_link_count=run.changed_link_count,
            threshold=run.threshold,
            model_json=run.model,
        )

    def GetIndexStatus(
        self, request: operator_pb2.GetIndexStatusRequest, context: grpc.ServicerContext
    ) -> operator_pb2.IndexStatus:
        status = self._service.index_status()
        settings = self._service.settings
        return operator_pb2.IndexStatus(
            record_count=status.record_count,
            link_count=status.link_count,
            agencies=[
                operator_pb2.AgencyCount(
                    agency=f"agencies/{a.agency_id}",
                    record_count=a.record_count,
                    linked_record_count=a.linked_record_count,
                )
                for a in status.agencies
            ],
            key_epoch=settings.key_epoch,
            schema_fingerprint=settings.schema_fingerprint,
            clk_bits=settings.clk_bits,
            threshold=settings.threshold,
            last_event_sequence=status.last_event_sequence,
            linkage_model_json=self._service.linkage_model_json(),
        )

    def ListEvents(
        self, request: operator_pb2.ListEventsRequest, context: grpc.ServicerContext
    ) -> operator_pb2.ListEventsResponse:
        size = _page_size(request.page_size, 1000, 10000)
        after = sequence_from_request(request.after_sequence, "after_sequence")
        events = self._service.list_events(after, size)
        return operator_pb2.ListEventsResponse(
            events=[
                operator_pb2.Event(
                    sequence=e.sequence,
                    event_time=timestamp_from_us(e.event_time_us),
                    kind=_EVENT_KIND[e.kind],
                    agency=f"agencies/{e.agency_id}" if e.agency_id else "",
                    batch=f"agencies/{e.agency_id}/batches/{e.batch_id}" if e.batch_id else "",
                    source_links=[f"links/{x}" for x in e.source_links],
                    target_links=[f"links/{x}" for x in e.target_links],
                    record_count=e.record_count,
                )
                for e in events
            ]
        )


def registrars(service: LinkageService) -> list[Callable[[grpc.aio.Server], str]]:
    """Functions that add each servicer to a server and return its name."""

    def ingest(server: grpc.aio.Server) -> str:
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(IngestServicer(service), server)
        return str(ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name)

    def lookup(server: grpc.aio.Server) -> str:
        lookup_pb2_grpc.add_LookupServiceServicer_to_server(LookupServicer(service), server)
        return str(lookup_pb2.DESCRIPTOR.services_by_name["LookupService"].full_name)

    def operator(server: grpc.aio.Server) -> str:
        operator_pb2_grpc.add_OperatorServiceServicer_to_server(OperatorServicer(service), server)
        return str(operator_pb2.DESCRIPTOR.services_by_name["OperatorService"].full_name)

    return [ingest, lookup, operator]


def _card_naming_the_agency(member: DisclosedMember) -> common_pb2.ContactCard:
    """The agency's contact card; one enrolled without a contact name shows the agency's."""
    card = contact_card_from_bytes(member.contact_card)
    if not card.display_name:
        card.display_name = member.agency_display_name or member.agency_id
    return card
