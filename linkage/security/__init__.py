"""Security building blocks the server wires in (no gRPC; only the audit log touches the
store, through its write-transaction interface).

* authorisation: a declarative role × RPC table (:data:`DEFAULT_POLICY`),
  :func:`authorize` and :func:`require_same_agency`;
* rate limiting: :class:`RateLimiter`, a thread-safe token bucket per key;
* query plausibility: :func:`band_from_popcounts` (or :func:`band_from_histogram`),
  :func:`check_query_plausible`;
* the audit hash chain: :class:`AuditEntry`, :func:`chain_hash`, :func:`verify_chain`
  (and :func:`verify_rows`, the same over plain tuples from a store cursor);
* the audit log as the store keeps it: :func:`append_audit_entry` seals an entry onto the
  chain inside a write transaction, :func:`verify_audit_log` verifies a store's log.

Certificates and principals live in :mod:`linkage.pki`, consent in
:mod:`linkage.consent`.
"""

from linkage.security._audit_chain import (
    GENESIS_HASH,
    AuditEntry,
    AuditRowTuple,
    ChainedAuditEntry,
    DetailValue,
    VerificationResult,
    canonical_details_json,
    chain_hash,
    encode_entry,
    seal,
    verify_chain,
    verify_rows,
)
from linkage.security._audit_log import append_audit_entry, verify_audit_log
from linkage.security._authz import (
    DEFAULT_POLICY,
    AuthorizationPolicy,
    authorize,
    is_authorized,
    require_same_agency,
    split_method_name,
)
from linkage.security._plausibility import (
    MAX_RECORD_FILL,
    PopcountBand,
    band_from_histogram,
    band_from_popcounts,
    band_from_range,
    check_query_clk_plausible,
    check_query_plausible,
    check_segments_plausible,
    popcounts,
    record_clk_problems,
    records_to_check,
)
from linkage.security._ratelimit import RateLimit, RateLimiter

__all__ = [
    "DEFAULT_POLICY",
    "GENESIS_HASH",
    "MAX_RECORD_FILL",
    "AuditEntry",
    "AuditRowTuple",
    "AuthorizationPolicy",
    "ChainedAuditEntry",
    "DetailValue",
    "PopcountBand",
    "RateLimit",
    "RateLimiter",
    "VerificationResult",
    "append_audit_entry",
    "authorize",
    "band_from_histogram",
    "band_from_popcounts",
    "band_from_range",
    "canonical_details_json",
    "chain_hash",
    "check_query_clk_plausible",
    "check_query_plausible",
    "check_segments_plausible",
    "encode_entry",
    "is_authorized",
    "popcounts",
    "record_clk_problems",
    "records_to_check",
    "require_same_agency",
    "seal",
    "split_method_name",
    "verify_audit_log",
    "verify_chain",
    "verify_rows",
]
