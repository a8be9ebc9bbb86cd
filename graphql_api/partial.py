"""Partial updates: telling "not given" apart from "set to null".

`updateFund(input: {hardCapUsd: null})` removes the cap, while leaving
`hardCapUsd` out leaves it alone. Services receive `UNSET` for fields the
client did not send; this module is plain Python so services stay GraphQL-free.
"""

from __future__ import annotations

from enum import Enum
from typing import Final, Literal, TypeAlias, TypeVar

T = TypeVar("T")


class _Unset(Enum):
    UNSET = "UNSET"

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset.UNSET
Unset: TypeAlias = Literal[_Unset.UNSET]
