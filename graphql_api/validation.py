"""Field rules shared by several slices (names, money), as plain functions.

Each returns the violations it finds instead of raising at the first one, so a
mutation reports every broken field of its input together.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal

from graphql_api.errors import ErrorCode, Violation
from graphql_api.money import MAX_FUND_SIZE_USD, has_at_most_two_decimals

MAX_NAME_LENGTH = 255


def clean_name(value: str, field: str) -> tuple[str, list[Violation]]:
    """Trim a display name and check it: 1-255 characters, no control characters."""
    name = value.strip()
    problems: list[Violation] = []
    if not name:
        problems.append(Violation(ErrorCode.VALIDATION, "Name must not be blank.", (field,)))
    elif len(name) > MAX_NAME_LENGTH:
        problems.append(
            Violation(
                ErrorCode.VALIDATION,
                f"Name must be at most {MAX_NAME_LENGTH} characters (got {len(name)}).",
                (field,),
            )
        )
    if any(unicodedata.category(char) == "Cc" for char in name):
        problems.append(
            Violation(ErrorCode.VALIDATION, "Name must not contain control characters.", (field,))
        )
    return name, problems


def check_money(
    amount: Decimal, field: str, *, label: str, maximum: Decimal = MAX_FUND_SIZE_USD
) -> list[Violation]:
    """A positive amount of whole cents, at most `maximum`."""
    if not amount.is_finite() or amount <= 0:
        return [Violation(ErrorCode.VALIDATION, f"{label} must be greater than 0.", (field,))]
    if amount > maximum:
        return [
            Violation(ErrorCode.VALIDATION, f"{label} must be at most {maximum:,.0f}.", (field,))
        ]
    if not has_at_most_two_decimals(amount):
        return [
            Violation(
                ErrorCode.VALIDATION, f"{label} must have at most 2 decimal places.", (field,)
            )
        ]
    return []
