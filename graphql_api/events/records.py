"""What an event is, once it has a position: the unit the hub and the feeds move around."""

from __future__ import annotations

import binascii
import uuid
from base64 import urlsafe_b64decode, urlsafe_b64encode
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson


class EventType(StrEnum):
    FUND_CREATED = "FUND_CREATED"
    FUND_UPDATED = "FUND_UPDATED"
    FUND_STATUS_CHANGED = "FUND_STATUS_CHANGED"
    INVESTMENT_CREATED = "INVESTMENT_CREATED"
    INVESTMENT_DELETED = "INVESTMENT_DELETED"
    FUND_DELETED = "FUND_DELETED"
    FUND_RESTORED = "FUND_RESTORED"
    INVESTMENT_RESTORED = "INVESTMENT_RESTORED"
    INVESTOR_DELETED = "INVESTOR_DELETED"
    INVESTOR_RESTORED = "INVESTOR_RESTORED"


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A sequenced event: `position` is its place in the one delivery order."""

    position: int
    event_id: uuid.UUID
    event_type: EventType
    fund_id: uuid.UUID | None  # None: an event about an investor alone
    investment_id: uuid.UUID | None
    investor_id: uuid.UUID | None
    payload: dict[str, Any] = field(hash=False, compare=False)
    occurred_at: datetime

    def to_wire(self) -> dict[str, Any]:
        """The form sent through the broker (JSON-friendly)."""
        return {
            "position": self.position,
            "event_id": str(self.event_id),
            "event_type": self.event_type.value,
            "fund_id": str(self.fund_id) if self.fund_id else None,
            "investment_id": str(self.investment_id) if self.investment_id else None,
            "investor_id": str(self.investor_id) if self.investor_id else None,
            "payload": self.payload,
            "occurred_at": self.occurred_at.isoformat(),
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> EventRecord:
        return cls(
            position=int(data["position"]),
            event_id=uuid.UUID(data["event_id"]),
            event_type=EventType(data["event_type"]),
            fund_id=uuid.UUID(data["fund_id"]) if data["fund_id"] else None,
            investment_id=uuid.UUID(data["investment_id"]) if data["investment_id"] else None,
            investor_id=uuid.UUID(data["investor_id"]) if data["investor_id"] else None,
            payload=dict(data["payload"]),
            occurred_at=datetime.fromisoformat(data["occurred_at"]),
        )


def encode_batch(records: list[EventRecord]) -> bytes:
    return orjson.dumps([record.to_wire() for record in records])


def decode_batch(message: bytes | str) -> list[EventRecord]:
    return [EventRecord.from_wire(item) for item in orjson.loads(message)]


_CURSOR_PREFIX = "ev:"


def encode_cursor(position: int) -> str:
    """The opaque cursor of an event (its position); pass it back as `after`."""
    return urlsafe_b64encode(f"{_CURSOR_PREFIX}{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The position in a cursor; ValueError when it is not one of ours."""
    if len(cursor) > 64:
        raise ValueError("cursor too long")
    try:
        text = urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError) as error:
        raise ValueError("not an event cursor") from error
    if not text.startswith(_CURSOR_PREFIX) or not text[len(_CURSOR_PREFIX) :].isdigit():
        raise ValueError("not an event cursor")
    position = int(text[len(_CURSOR_PREFIX) :])
    if position >= 2**63 or encode_cursor(position) != cursor:
        raise ValueError("not an event cursor")  # out of range, or not the form we issue
    return position
