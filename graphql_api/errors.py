"""Domain errors: what services raise when a request breaks a business rule.

Plain Python on purpose: services and repositories never import GraphQL. The
GraphQL layer maps each error to a `UserError` (code, message, input path); the
codes below are the contract's `UserErrorCode` values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Self


class ErrorCode(StrEnum):
    """Machine-readable reason a mutation did not do what was asked."""

    VALIDATION = "VALIDATION"
    NOT_FOUND = "NOT_FOUND"
    DUPLICATE_EMAIL = "DUPLICATE_EMAIL"
    FUND_CLOSED = "FUND_CLOSED"
    INVALID_STATUS_TRANSITION = "INVALID_STATUS_TRANSITION"
    HARD_CAP_EXCEEDED = "HARD_CAP_EXCEEDED"
    VERSION_CONFLICT = "VERSION_CONFLICT"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    INVALID_TOKEN = "INVALID_TOKEN"  # noqa: S105 (an error code, not a token)
    SIGNUP_DISABLED = "SIGNUP_DISABLED"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    HAS_DEPENDENTS = "HAS_DEPENDENTS"


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: a code, a human message and the offending input field.

    `field` holds Python attribute names (`("vintage_year",)`); the GraphQL layer
    turns them into the input path the client sent (`["input", "vintageYear"]`).
    """

    code: ErrorCode
    message: str
    field: tuple[str, ...] | None = None


class DomainError(Exception):
    """A request that breaks a business rule; carries one or more violations."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        super().__init__("; ".join(v.message for v in violations))
        self.violations: tuple[Violation, ...] = tuple(violations)

    @classmethod
    def single(cls, code: ErrorCode, message: str, field: str | None = None) -> Self:
        return cls([Violation(code, message, (field,) if field else None)])


class InvalidInputError(DomainError):
    """Input values break field rules; every broken field is reported at once."""


class NotFoundError(DomainError):
    """A referenced record does not exist."""


class DuplicateEmailError(DomainError):
    """Another investor already uses this email address (case-insensitively)."""


class FundClosedError(DomainError):
    """The fund is CLOSED and takes no new commitments."""


class InvalidStatusTransitionError(DomainError):
    """Fund status may only move forward: FUNDRAISING → INVESTING → CLOSED."""


class HardCapExceededError(DomainError):
    """The commitment would push the fund's total past its hard cap."""


class HasDependentsError(DomainError):
    """A fund or investor still has live investments, so it cannot be deleted."""


class VersionConflictError(DomainError):
    """The caller's `expectedVersion` is stale: someone changed the record first."""


class InvalidCredentialsError(DomainError):
    """Wrong email or password (deliberately not saying which)."""


class InvalidTokenError(DomainError):
    """A refresh, verification or reset token that is unknown, used, expired or revoked."""
