"""The one place where domain errors become gRPC statuses."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from linkage.errors import LinkageError, StatusHint

__all__ = ["GRPC_CODE_FOR_HINT", "abort_for_error", "status_for_error"]

GRPC_CODE_FOR_HINT: dict[StatusHint, grpc.StatusCode] = {
    StatusHint.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    StatusHint.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    StatusHint.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    StatusHint.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    StatusHint.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    StatusHint.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    StatusHint.FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    StatusHint.ABORTED: grpc.StatusCode.ABORTED,
    StatusHint.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    StatusHint.DEADLINE_EXCEEDED: grpc.StatusCode.DEADLINE_EXCEEDED,
    StatusHint.INTERNAL: grpc.StatusCode.INTERNAL,
}
_MAX_VIOLATIONS = 100


def status_for_error(error: LinkageError) -> grpc.Status:
    """A rich status: the code from the error's hint, its message, and each
    problem as a ``google.rpc.BadRequest`` field violation."""
    code = GRPC_CODE_FOR_HINT[error.status_hint]
    message = error.message
    if error.problems:
        shown = error.problems[:_MAX_VIOLATIONS]
        message = f"{error.message}: " + "; ".join(str(p) for p in shown[:5])
        if len(error.problems) > 5:
            message += f"; and {len(error.problems) - 5} more"
    details: list[any_pb2.Any] = []
    if error.problems:
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=p.location, description=p.reason)
                for p in error.problems[:_MAX_VIOLATIONS]
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(bad_request)
        details.append(packed)
    status = status_pb2.Status(code=getattr(code_pb2, code.name), message=message, details=details)
    converted: grpc.Status = rpc_status.to_status(status)
    return converted


async def abort_for_error(context: grpc.aio.ServicerContext[Any, Any], error: LinkageError) -> None:
    """Abort the RPC with the status for ``error``. Never returns."""
    await context.abort_with_status(status_for_error(error))
