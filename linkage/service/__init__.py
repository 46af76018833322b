"""The linkage service: ingest, incremental linkage, rebuild and lookup.

This is the domain layer between the gRPC servicers and the store and
matcher core. It knows neither gRPC nor protobuf.
"""

from linkage.service._agencies import proposal_digest
from linkage.service._model import (
    AGENCY_ID_PATTERN,
    BATCH_ID_PATTERN,
    BatchOutcome,
    ConsentChange,
    DisclosedMember,
    LinkHit,
    Mutation,
    RecordUpsert,
    RecordWithdrawal,
    WriteBatch,
)
from linkage.service._observer import LookupOutcome, NullObserver, ServiceObserver
from linkage.service._probabilistic import ProbabilisticSettings, prior_model
from linkage.service._service import (
    IndexStatus,
    LinkageService,
    cross_agency_greedy,
    verify_audit_log,
)
from linkage.service._settings import (
    CLUSTERING_METHODS,
    ClusteringSettings,
    LinkageSettings,
    ServiceLimits,
)
from linkage.service._stored_consent import UNREADABLE_CONSENT, read_stored_consent

__all__ = [
    "AGENCY_ID_PATTERN",
    "BATCH_ID_PATTERN",
    "CLUSTERING_METHODS",
    "UNREADABLE_CONSENT",
    "BatchOutcome",
    "ClusteringSettings",
    "ConsentChange",
    "DisclosedMember",
    "IndexStatus",
    "LinkHit",
    "LinkageService",
    "LinkageSettings",
    "LookupOutcome",
    "Mutation",
    "NullObserver",
    "ProbabilisticSettings",
    "RecordUpsert",
    "RecordWithdrawal",
    "ServiceLimits",
    "ServiceObserver",
    "WriteBatch",
    "cross_agency_greedy",
    "prior_model",
    "proposal_digest",
    "read_stored_consent",
    "verify_audit_log",
]
