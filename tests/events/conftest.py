"""Fixtures of the event tests: the app's database with automatic flushing off, an isolated rig."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from graphql_api.db.session import Database
from graphql_api.events.broker import InProcessBroker
from graphql_api.events.hub import EventHub
from graphql_api.events.publisher import Publisher

RETENTION = timedelta(days=7)


@pytest.fixture
async def quiet_db(app: Any, db: Database) -> AsyncIterator[Database]:
    """The app's database, but commits no longer kick the app's publisher.

    Nothing is sequenced behind the test's back: the test decides when the
    sequencer runs (a flush an earlier test kicked is waited for first, or it
    could sequence and publish this test's events to the app's broker). The
    app's hook is put back afterwards.
    """
    await app.state.runtime.events.publisher.drain()
    app_hook = db.on_events_committed
    db.on_events_committed = None
    try:
        yield db
    finally:
        db.on_events_committed = app_hook


@dataclass
class Rig:
    """An event system of the test's own: in-process broker, hub (started) and publisher."""

    db: Database
    broker: InProcessBroker
    hub: EventHub
    publisher: Publisher


@pytest.fixture
async def rig(quiet_db: Database) -> AsyncIterator[Rig]:
    broker = InProcessBroker()
    hub = EventHub(
        quiet_db,
        broker_connected=lambda: broker.connected,
        poll_seconds_connected=3600,
        poll_seconds_disconnected=3600,
    )
    publisher = Publisher(quiet_db, broker, relay_seconds=3600, retention=RETENTION)
    await hub.start()
    await broker.start(hub.deliver, hub.catch_up)
    try:
        yield Rig(quiet_db, broker, hub, publisher)
    finally:
        await publisher.stop()
        await hub.shutdown()
        await broker.close()
