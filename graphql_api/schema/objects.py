"""Cheap construction of GraphQL objects from rows (the hot path of every list).

A page of 1,000 commitments builds 2,000 objects; the dataclass `__init__`
Strawberry generates checks and orders keyword arguments on every call.
`build` fills the instance dictionary directly, and `Lazy` lets a related
object be a plain attribute that is only loaded if the query awaits it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, Generic, TypeVar

T = TypeVar("T")
ObjectT = TypeVar("ObjectT")


def build(cls: type[ObjectT], **values: Any) -> ObjectT:
    """An instance of a Strawberry type with exactly these attributes (no __init__).

    Fields not given keep their class-level defaults. Only for our own types,
    which are plain dataclasses without __post_init__ or slots.
    """
    instance = object.__new__(cls)
    instance.__dict__.update(values)
    return instance


class Lazy(Generic[T]):
    """An awaitable that starts its work only when awaited.

    Unlike a coroutine, one that is never awaited (its field was not selected)
    costs nothing and leaves no "never awaited" warning behind.
    """

    __slots__ = ("_factory",)

    def __init__(self, factory: Callable[[], Awaitable[T]]) -> None:
        self._factory = factory

    def __await__(self) -> Generator[Any, None, T]:
        return self._factory().__await__()
