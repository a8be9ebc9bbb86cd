"""Exact money: `Decimal` in Python and GraphQL, integer cents in the database.

Floats never touch money. Converting to cents refuses sub-cent precision instead
of rounding it away, so no value is silently changed on its way to storage.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

CENT = Decimal("0.01")
MAX_FUND_SIZE_USD = Decimal(10) ** 15
# Digits with an optional fraction: no exponent, no NaN or Infinity, no grouping.
DECIMAL_PATTERN = re.compile(r"[+-]?[0-9]{1,30}(\.[0-9]{1,30})?")


class SubCentAmountError(ValueError):
    """The amount has more than two decimal places."""


def has_at_most_two_decimals(amount: Decimal) -> bool:
    """True when the amount is a whole number of cents."""
    try:
        return amount == amount.quantize(CENT)
    except InvalidOperation:  # too many digits to quantize, or NaN/Infinity
        return False


def parse_decimal_text(text: str) -> Decimal:
    """Read an exact decimal written out in digits (`"1000.00"`), or raise ValueError."""
    stripped = text.strip()
    if not DECIMAL_PATTERN.fullmatch(stripped):
        raise ValueError(f'"{text[:40]}" is not a decimal number such as "1000.00".')
    return Decimal(stripped)


def to_cents(amount: Decimal) -> int:
    """Turn `Decimal("12.34")` into `1234`; refuse anything that is not whole cents."""
    if not amount.is_finite() or not has_at_most_two_decimals(amount):
        raise SubCentAmountError(f"{amount} is not a whole number of cents")
    return int(amount.scaleb(2))


def from_cents(cents: int | Decimal) -> Decimal:
    """Turn `1234` into `Decimal("12.34")` (always two decimal places)."""
    return Decimal(int(cents)).scaleb(-2).quantize(CENT)
