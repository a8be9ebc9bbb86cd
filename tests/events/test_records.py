"""Event cursors and the broker's wire format."""

from __future__ import annotations

import uuid
from base64 import urlsafe_b64encode
from datetime import UTC, datetime

import pytest

from graphql_api.events.records import (
    EventRecord,
    EventType,
    decode_batch,
    decode_cursor,
    encode_batch,
    encode_cursor,
)


def b64(text: str) -> str:
    return urlsafe_b64encode(text.encode()).decode()


class TestEventCursor:
    @pytest.mark.parametrize("position", [0, 1, 42, 10**12, 2**63 - 1])
    def test_round_trips_a_position(self, position: int) -> None:
        cursor = encode_cursor(position)

        assert decode_cursor(cursor) == position
        assert "=" not in cursor

    def test_is_opaque(self) -> None:
        assert str(7) not in encode_cursor(7)

    @pytest.mark.parametrize(
        "garbage",
        [
            pytest.param("", id="empty"),
            pytest.param("x", id="one-character"),
            pytest.param("not a cursor!", id="not-base64"),
            pytest.param(b64("ev:"), id="no-position"),
            pytest.param(b64("ev:-1"), id="negative"),
            pytest.param(b64("ev: 1"), id="space"),
            pytest.param(b64("ev:1.5"), id="fraction"),
            pytest.param(b64("ev:abc"), id="letters"),
            pytest.param(b64("ev:\u0661"), id="non-ascii-digit"),
            pytest.param(b64("Fund:1"), id="another-prefix"),
            pytest.param(b64("ev:9223372036854775808"), id="beyond-bigint"),
            pytest.param("A" * 65, id="too-long"),
            pytest.param("\u00e9t\u00e9", id="non-ascii"),
            pytest.param(b64("\xff\xfe"), id="not-text"),
        ],
    )
    def test_rejects_anything_that_is_not_one_of_ours(self, garbage: str) -> None:
        with pytest.raises(ValueError):  # noqa: PT011 (the message varies with the defect)
            decode_cursor(garbage)


class TestWireFormat:
    def test_a_batch_survives_the_broker_unchanged(self) -> None:
        # Given events with every optional field set, and with none
        records = [
            EventRecord(
                position=1,
                event_id=uuid.uuid4(),
                event_type=EventType.INVESTMENT_CREATED,
                fund_id=uuid.uuid4(),
                investment_id=uuid.uuid4(),
                investor_id=uuid.uuid4(),
                payload={"amountUsd": "1234.50", "nested": {"list": [1, "two"]}},
                occurred_at=datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=UTC),
            ),
            EventRecord(
                position=2,
                event_id=uuid.uuid4(),
                event_type=EventType.FUND_CREATED,
                fund_id=uuid.uuid4(),
                investment_id=None,
                investor_id=None,
                payload={},
                occurred_at=datetime.now(UTC),
            ),
            # An investor's own event belongs to no fund.
            EventRecord(
                position=3,
                event_id=uuid.uuid4(),
                event_type=EventType.INVESTOR_DELETED,
                fund_id=None,
                investment_id=None,
                investor_id=uuid.uuid4(),
                payload={"changedFields": ["deletedAt"]},
                occurred_at=datetime.now(UTC),
            ),
        ]

        # When encoded and decoded
        decoded = decode_batch(encode_batch(records))

        # Then every field is the same (the payload too, which equality ignores)
        assert decoded == records
        assert [record.payload for record in decoded] == [record.payload for record in records]
        assert [record.occurred_at for record in decoded] == [r.occurred_at for r in records]
