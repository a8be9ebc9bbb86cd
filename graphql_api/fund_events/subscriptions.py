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
from graphql_api.schema.loaders import Loaders
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


async def _fund_is_live(loaders: Loaders, record: EventRecord, fund_key: uuid.UUID | None) -> bool:
    """Whether the event's fund is live now; a deleted fund's events vanish from the stream.

    Following every fund, they are skipped. Following the deleted fund itself, the
    subscription ends with NOT_FOUND, as subscribing to it now would. The fund is
    loaded through the event's loaders, so its `fund` field costs no second query.
    """
    assert record.fund_id is not None
    if await loaders.fund_by_id.load(record.fund_id) is not None:
        return True
    if fund_key is None:
        return False
    raise api_error(ApiErrorCode.NOT_FOUND, "The fund was deleted.", argument="fundId")


async def _stream(
    info: Info[Context, None],
    fund_key: uuid.UUID | None,
    after: int | None,
    types: frozenset[EventType] | None,
) -> AsyncGenerator[FundEvent, None]:
    runtime = info.context.runtime
    viewer = info.context.viewer

    def wanted(record: EventRecord) -> bool:
        """An event this subscriber is to receive (its fund being live, checked later)."""
        if record.fund_id is None:  # an investor's own event: not a fund event
            return False
        if fund_key is not None and record.fund_id != fund_key:
            return False
        # A restricted viewer (an INVESTOR) hears only about its own commitments.
        visible = not viewer.restricted or (
            viewer.investor_id is not None and record.investor_id == viewer.investor_id
        )
        return visible and (types is None or record.event_type in types)

    def accepts(record: EventRecord) -> bool:
        # Whoever follows a fund also takes its deletion, to end the stream with it.
        ends = record.event_type is EventType.FUND_DELETED and record.fund_id == fund_key
        return ends or wanted(record)

    await _ensure_still_authenticated(info)
    # Events up to here can only come from the replay: they get loaders of their
    # own, since the shared ones may hold what a live delivery saw long ago (a
    # fund since deleted, totals since changed).
    replayed_upto = runtime.events.hub.last_position if after is not None else 0
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
            loaders = (
                Loaders(runtime.db, viewer)
                if record.position <= replayed_upto
                else runtime.event_loaders.for_event(record.position, viewer)
            )
            if not await _fund_is_live(loaders, record, fund_key):
                continue
            if not wanted(record):
                continue  # a FUND_DELETED let through, but the fund was restored since
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
