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
# Characters that render as nothing: format characters, separators, and the
# letters and symbols that exist only to look blank (Hangul fillers, Braille blank).
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Me"})
_BLANK_LOOKING = frozenset("\u115f\u1160\u2800\u3164\uffa0")


def is_blank(text: str) -> bool:
    """True when nothing in `text` would be visible on screen."""
    return all(
        char in _BLANK_LOOKING or unicodedata.category(char) in _INVISIBLE_CATEGORIES
        for char in text
    )


def clean_name(value: str, field: str) -> tuple[str, list[Violation]]:
    """Trim a display name and check it: visible, 1-255 characters, no control characters."""
    name = value.strip()
    has_control = any(unicodedata.category(char) == "Cc" for char in name)
    messages = []
    if not has_control and is_blank(name):
        messages.append("Name must not be blank.")
    elif len(name) > MAX_NAME_LENGTH:
        messages.append(f"Name must be at most {MAX_NAME_LENGTH} characters (got {len(name)}).")
    if has_control:
        messages.append("Name must not contain control characters.")
    return name, [Violation(ErrorCode.VALIDATION, message, (field,)) for message in messages]


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
