"""The exception hierarchy: one root, status hints, problems rendered without values."""

from __future__ import annotations

import pytest

from linkage import errors

pytestmark = pytest.mark.unit


def test_every_public_error_derives_from_the_one_root() -> None:
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, errors.LinkageError), name


def test_problems_are_listed_under_the_message() -> None:
    err = errors.SchemaError(
        "schema is invalid",
        problems=[
            errors.Problem("$.features[0].format.type", "unknown type 'strng'"),
            errors.Problem("$.clkConfig.l", "must be a positive integer"),
        ],
    )
    assert str(err).splitlines() == [
        "schema is invalid",
        "  - $.features[0].format.type: unknown type 'strng'",
        "  - $.clkConfig.l: must be a positive integer",
    ]
    assert err.status_hint is errors.StatusHint.INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("cls", "hint"),
    [
        (errors.NotFoundError, errors.StatusHint.NOT_FOUND),
        (errors.PermissionDeniedError, errors.StatusHint.PERMISSION_DENIED),
        (errors.AuthenticationError, errors.StatusHint.UNAUTHENTICATED),
        (errors.ResourceExhaustedError, errors.StatusHint.RESOURCE_EXHAUSTED),
        (errors.RowError, errors.StatusHint.INVALID_ARGUMENT),
        (errors.ConflictError, errors.StatusHint.ABORTED),
        (errors.DeadlineExceededError, errors.StatusHint.DEADLINE_EXCEEDED),
    ],
)
def test_status_hints(cls: type[errors.LinkageError], hint: errors.StatusHint) -> None:
    assert cls("x").status_hint is hint
