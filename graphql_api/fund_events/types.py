"""GraphQL types of fund events; `fund` and `investment` resolve through the query loaders."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from graphql_api.events.records import EventRecord, EventType, encode_cursor
from graphql_api.funds.inputs import FundStatus
from graphql_api.funds.types import Fund
from graphql_api.investments.types import EVERYTHING_RELATED, Investment
from graphql_api.schema.ids import to_global_id
from graphql_api.schema.loaders import Loaders


@strawberry.interface(description="Something that happened to a fund, in the order it happened.")
class FundEvent:
    event_id: strawberry.ID = strawberry.field(
        description="Unique ID of the event: an event delivered twice carries the same ID."
    )
    cursor: str = strawberry.field(
        description="Pass as `after` to resume right after this event, losing nothing."
    )
    occurred_at: datetime = strawberry.field(description="When the change was made (UTC).")
    record: strawberry.Private[EventRecord]
    loaders: strawberry.Private[Loaders]

    @strawberry.field(description="The fund, as it is now.")
    async def fund(self) -> Fund:
        # The stream delivers only events of funds that are live now (see
        # fund_events.subscriptions), loaded through these same loaders.
        assert self.record.fund_id is not None
        row = await self.loaders.fund_by_id.load(self.record.fund_id)
        if row is None:  # pragma: no cover (the stream skipped it)
            raise LookupError(f"event {self.record.event_id} refers to a deleted fund")
        return Fund.from_row(row)


@strawberry.type(description="A fund was created.")
class FundCreatedEvent(FundEvent):
    pass


@strawberry.type(description="Some fields of a fund changed.")
class FundUpdatedEvent(FundEvent):
    changed_fields: list[str] = strawberry.field(
        description='The fields that changed, as named in the API (e.g. ["name", "hardCapUsd"]).'
    )


@strawberry.type(description="A fund moved to another status (also reported as FundUpdatedEvent).")
class FundStatusChangedEvent(FundEvent):
    from_: FundStatus = strawberry.field(name="from", description="The status before.")
    to: FundStatus = strawberry.field(description="The status after.")


@strawberry.type(description="An investor committed capital to the fund.")
class InvestmentCreatedEvent(FundEvent):
    @strawberry.field(description="The new commitment (null if it has since been deleted).")
    async def investment(self) -> Investment | None:
        assert self.record.investment_id is not None
        row = await self.loaders.investment_by_id.load(self.record.investment_id)
        if row is None:
            return None
        return Investment.from_row(row, self.loaders, related=EVERYTHING_RELATED)


@strawberry.type(description="A commitment was deleted.")
class InvestmentDeletedEvent(FundEvent):
    investment_id: strawberry.ID = strawberry.field(description="The deleted commitment's ID.")


EVENT_TYPES: tuple[type[FundEvent], ...] = (
    FundCreatedEvent,
    FundUpdatedEvent,
    FundStatusChangedEvent,
    InvestmentCreatedEvent,
    InvestmentDeletedEvent,
)


def to_event(record: EventRecord, loaders: Loaders) -> FundEvent:
    """The GraphQL event for a record."""
    common: dict[str, Any] = {
        "event_id": strawberry.ID(str(record.event_id)),
        "cursor": encode_cursor(record.position),
        "occurred_at": record.occurred_at,
        "record": record,
        "loaders": loaders,
    }
    payload = record.payload
    match record.event_type:
        case EventType.FUND_UPDATED | EventType.FUND_DELETED | EventType.FUND_RESTORED:
            # A soft delete or restore is a change of the fund's `deletedAt`.
            return FundUpdatedEvent(changed_fields=list(payload["changedFields"]), **common)
        case EventType.FUND_STATUS_CHANGED:
            return FundStatusChangedEvent(
                from_=FundStatus(payload["from"]), to=FundStatus(payload["to"]), **common
            )
        case EventType.INVESTMENT_CREATED | EventType.INVESTMENT_RESTORED:
            # A restored commitment counts again, as a new one does.
            return InvestmentCreatedEvent(**common)
        case EventType.INVESTMENT_DELETED:
            assert record.investment_id is not None
            return InvestmentDeletedEvent(
                investment_id=strawberry.ID(to_global_id("Investment", record.investment_id)),
                **common,
            )
        case _:
            return FundCreatedEvent(**common)
