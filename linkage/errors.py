"""The one exception hierarchy of the project.

Every error raised on purpose by ``linkage`` or ``agency_client`` derives from
:class:`LinkageError`. Each subclass carries a :class:`StatusHint`, which the
gRPC servicer layer maps to a status code in one place and the CLIs map to an
exit code. Nothing here imports gRPC.

Messages must never contain PII, CLKs, pointer plaintext or key material: they
name rows, columns, JSON paths, record positions and reasons, never values.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "AlreadyExistsError",
    "AuthenticationError",
    "ConfigError",
    "ConflictError",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "IntegrityError",
    "InvalidInputError",
    "LinkageError",
    "NotFoundError",
    "PermissionDeniedError",
    "Problem",
    "ResourceExhaustedError",
    "RowError",
    "SchemaError",
    "StatusHint",
    "StorageError",
    "UnavailableError",
]


class StatusHint(enum.Enum):
    """What kind of failure an error is, independent of any transport."""

    INVALID_ARGUMENT = "invalid_argument"
    NOT_FOUND = "not_found"
    ALREADY_EXISTS = "already_exists"
    PERMISSION_DENIED = "permission_denied"
    UNAUTHENTICATED = "unauthenticated"
    RESOURCE_EXHAUSTED = "resource_exhausted"
    FAILED_PRECONDITION = "failed_precondition"
    ABORTED = "aborted"
    UNAVAILABLE = "unavailable"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    INTERNAL = "internal"


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found in an input: where it is and why it is wrong.

    ``location`` is a JSON path (``$.features[2].hashing.strategy``), a
    ``row 17, column dob`` reference or a ``records[4]`` index, never a value.
    """

    location: str
    reason: str

    def __str__(self) -> str:
        return f"{self.location}: {self.reason}"


class LinkageError(Exception):
    """Root of every deliberate error in this project."""

    status_hint: StatusHint = StatusHint.INTERNAL

    def __init__(self, message: str, *, problems: Sequence[Problem] = ()) -> None:
        self.message = message
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__(self._render())

    def _render(self) -> str:
        if not self.problems:
            return self.message
        lines = [self.message]
        lines.extend(f"  - {problem}" for problem in self.problems)
        return "\n".join(lines)


class InvalidInputError(LinkageError):
    """An input (request, file, argument) is malformed or out of range."""

    status_hint = StatusHint.INVALID_ARGUMENT


class SchemaError(InvalidInputError):
    """A linkage schema is invalid; ``problems`` name the JSON path of each problem."""


class ConfigError(InvalidInputError):
    """A configuration file or environment setting is invalid or missing."""


class RowError(InvalidInputError):
    """A source row cannot be normalised; ``problems`` name its row and column."""


class NotFoundError(LinkageError):
    """A named entity (agency, record, batch, link, certificate) does not exist."""

    status_hint = StatusHint.NOT_FOUND


class AlreadyExistsError(LinkageError):
    """An entity with the same identity already exists."""

    status_hint = StatusHint.ALREADY_EXISTS


class PermissionDeniedError(LinkageError):
    """The caller is known but its role does not allow this action."""

    status_hint = StatusHint.PERMISSION_DENIED


class AuthenticationError(LinkageError):
    """The caller could not be identified (no, unknown, expired or revoked certificate)."""

    status_hint = StatusHint.UNAUTHENTICATED


class ResourceExhaustedError(LinkageError):
    """A size limit or rate limit was exceeded."""

    status_hint = StatusHint.RESOURCE_EXHAUSTED


class FailedPreconditionError(LinkageError):
    """The system is not in a state that allows this action (e.g. wrong key epoch)."""

    status_hint = StatusHint.FAILED_PRECONDITION


class ConflictError(LinkageError):
    """A concurrent change conflicted with this one; retrying may succeed."""

    status_hint = StatusHint.ABORTED


class UnavailableError(LinkageError):
    """A dependency (server, database, cluster) cannot be reached right now."""

    status_hint = StatusHint.UNAVAILABLE


class DeadlineExceededError(LinkageError):
    """A call ran out of time: a stream stayed idle past the server's limit."""

    status_hint = StatusHint.DEADLINE_EXCEEDED


class StorageError(LinkageError):
    """The store failed in a way that is not the caller's fault."""

    status_hint = StatusHint.INTERNAL


class IntegrityError(LinkageError):
    """Stored data failed an integrity check (for example the audit hash chain)."""

    status_hint = StatusHint.INTERNAL
