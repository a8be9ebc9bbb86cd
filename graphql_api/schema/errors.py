"""The error contract: `UserError` in payloads, coded top-level errors, masking.

* Expected failures (a broken business rule) are data: mutation payloads carry
  `errors: [UserError!]!` with a `UserErrorCode` and the input path.
* What is not the user's data (bad arguments, malformed documents, outages)
  is a top-level error with `extensions.code`.
* Anything unexpected is masked: the client sees a generic message and the
  request id; the log keeps the exception with the same request id.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.utils.str_converters import to_camel_case

from graphql_api.errors import DomainError, ErrorCode
from graphql_api.schema.enums import graphql_enum


class ApiErrorCode(StrEnum):
    """`extensions.code` values of top-level errors."""

    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    NOT_FOUND = "NOT_FOUND"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    RATE_LIMITED = "RATE_LIMITED"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
    OPERATION_TIMEOUT = "OPERATION_TIMEOUT"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"


def api_error(code: ApiErrorCode, message: str, **extensions: Any) -> GraphQLError:
    """A deliberate top-level error; passes through masking unchanged."""
    return GraphQLError(message, extensions={"code": code.value, **extensions})


def bad_user_input(message: str, argument: str | None = None) -> GraphQLError:
    """An argument the server cannot use (page size, cursor, ID in a filter)."""
    extra = {"argument": argument} if argument else {}
    return api_error(ApiErrorCode.BAD_USER_INPUT, message, **extra)


UserErrorCode = graphql_enum(
    ErrorCode,
    name="UserErrorCode",
    description="Why a mutation refused its input.",
    values={
        ErrorCode.VALIDATION: "A field's value breaks a rule (length, range, format).",
        ErrorCode.NOT_FOUND: "A referenced record does not exist.",
        ErrorCode.DUPLICATE_EMAIL: "Another investor already uses this email address.",
        ErrorCode.FUND_CLOSED: "The fund is CLOSED and accepts no new commitments.",
        ErrorCode.INVALID_STATUS_TRANSITION: "Fund status only moves forward.",
        ErrorCode.HARD_CAP_EXCEEDED: "The commitment would exceed the fund's hard cap.",
        ErrorCode.HAS_DEPENDENTS: (
            "The fund or investor still has live investments; delete those first."
        ),
        ErrorCode.VERSION_CONFLICT: "The record changed since `expectedVersion`; reload and retry.",
        ErrorCode.INVALID_CREDENTIALS: "Email or password (or the current password) is wrong.",
        ErrorCode.INVALID_TOKEN: "A refresh, verification or reset token is not valid (any more).",
        ErrorCode.SIGNUP_DISABLED: "Self-service registration is turned off on this server.",
        ErrorCode.IDEMPOTENCY_KEY_REUSED: (
            "This idempotency key was already used for a different request within 24 hours."
        ),
    },
)


@strawberry.type(description="Something about the input that the mutation could not accept.")
class UserError:
    code: ErrorCode = strawberry.field(description="Machine-readable reason.")
    message: str = strawberry.field(description="Human-readable explanation, safe to display.")
    field: list[str] | None = strawberry.field(
        description='Path to the offending input field, e.g. ["input", "vintageYear"].'
    )


def user_errors(error: DomainError, input_path: Sequence[str] = ("input",)) -> list[UserError]:
    """Map a domain error to payload errors, naming fields as the client sent them."""
    return [
        UserError(
            code=violation.code,
            message=violation.message,
            field=[*input_path, *(to_camel_case(part) for part in violation.field)]
            if violation.field
            else None,
        )
        for violation in error.violations
    ]
