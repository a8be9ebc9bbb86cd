"""Subscriptions: live fund events, replayable from a cursor. Thin: decode, feed, map."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry
from graphql import GraphQLError
from starlette.websockets import WebSocket
from strawberry.types import Info

from graphql_api.auth.principal import READERS
from graphql_api.events import feed
from graphql_api.events.hub import SubscriberClosedError
from graphql_api.events.records import EventRecord, EventType, decode_cursor
from graphql_api.fund_events.types import FundEvent, InvestmentCreatedEvent, to_event
from graphql_api.funds import service as fund_service
from graphql_api.observability import metrics
from graphql_api.schema.context import Context
from graphql_api.schema.errors import ApiErrorCode, api_error, bad_user_input
from graphql_api.schema.extensions import finalize_error
from graphql_api.schema.ids import key_of
from graphql_api.schema.permissions import allow


async def _fund_key(info: Info[Context, None], fund_id: str | None) -> uuid.UUID | None:
    """The fund to follow (None: every fund); an unknown fund is refused up front."""
    if fund_id is None:
        return None
    key = key_of(fund_id, "Fund")
    if key is not None:
        async with info.context.db.read_session() as session:
            if await fund_service.find_fund(session, key) is not None:
                return key
    raise api_error(ApiErrorCode.NOT_FOUND, "No fund has this ID.", argument="fundId")


def _position(after: str | None) -> int | None:
    if after is None:
        return None
    try:
        return decode_cursor(after)
    except ValueError as error:
        raise bad_user_input("`after` is not an event cursor.", "after") from error


async def _ensure_still_authenticated(info: Info[Context, None]) -> None:
    """End the connection once its credential is revoked (or its role changed)."""
    context = info.context
    if await context.still_authenticated():
        return
    websocket = context.request
    if isinstance(websocket, WebSocket):
        with contextlib.suppress(RuntimeError, OSError):
            await websocket.close(code=4403, reason="Credentials revoked; reconnect.")
    raise api_error(ApiErrorCode.UNAUTHENTICATED, "Credentials revoked; reconnect.")


async def _stream(
    info: Info[Context, None],
    fund_key: uuid.UUID | None,
    after: int | None,
    types: frozenset[EventType] | None,
) -> AsyncGenerator[FundEvent, None]:
    runtime = info.context.runtime
    viewer = info.context.viewer

    def accepts(record: EventRecord) -> bool:
        # A restricted viewer (an INVESTOR) hears only about its own commitments.
        visible = not viewer.restricted or (
            viewer.investor_id is not None and record.investor_id == viewer.investor_id
        )
        return (
            visible
            and (fund_key is None or record.fund_id == fund_key)
            and (types is None or record.event_type in types)
        )

    await _ensure_still_authenticated(info)
    metrics.SUBSCRIPTIONS.inc()
    try:
        async for record in feed.events(
            runtime.events.hub,
            runtime.db,
            accepts=accepts,
            fund_id=fund_key,
            after=after,
            capacity=runtime.settings.subscriber_queue_size,
        ):
            # Every field of this event, nested ones included, reads through
            # loaders of this event: totals are as of the event, not cached from
            # the connection's first one (and the connection's cache cannot grow).
            await _ensure_still_authenticated(info)
            loaders = runtime.event_loaders.for_event(record.position, viewer)
            info.context.loaders = loaders
            yield to_event(record, loaders)
    except SubscriberClosedError as closed:
        raise GraphQLError(closed.reason, extensions={"code": closed.code}) from closed
    except GraphQLError:
        raise
    except Exception as error:
        # Strawberry sends a subscription's errors as they are: mask them here, as
        # the schema's error handling does for queries (no driver text leaves).
        raise finalize_error(
            GraphQLError(str(error), original_error=error),
            info.context.request_id,
            "subscription",
        ) from error
    finally:
        metrics.SUBSCRIPTIONS.dec()


@strawberry.type
class FundEventSubscriptions:
    @strawberry.subscription(
        extensions=[allow(*READERS)],
        description=(
            "Everything that happens to one fund (or to every fund), in commit order. With "
            "`after`, events after that cursor are replayed first, then live ones follow, "
            "with no gap and no duplicate."
        ),
    )
    async def fund_events(
        self,
        info: Info[Context, None],
        fund_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only this fund's events (default: every fund)."),
        ] = None,
        after: Annotated[
            str | None,
            strawberry.argument(description="Resume after this event's cursor."),
        ] = None,
    ) -> AsyncGenerator[FundEvent, None]:
        position = _position(after)
        fund_key = await _fund_key(info, fund_id)
        async for event in _stream(info, fund_key, position, None):
            yield event

    @strawberry.subscription(
        description="New commitments, live (to one fund, or to any).", extensions=[allow(*READERS)]
    )
    async def investment_created(
        self,
        info: Info[Context, None],
        fund_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only commitments to this fund."),
        ] = None,
    ) -> AsyncGenerator[InvestmentCreatedEvent, None]:
        fund_key = await _fund_key(info, fund_id)
        async for event in _stream(info, fund_key, None, frozenset({EventType.INVESTMENT_CREATED})):
            assert isinstance(event, InvestmentCreatedEvent)
            yield event
