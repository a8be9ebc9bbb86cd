"""Wire the event machinery for one process from the settings."""

from __future__ import annotations

from datetime import timedelta

from graphql_api.db.session import Database
from graphql_api.events.broker import Broker, InProcessBroker, RedisBroker
from graphql_api.events.hub import EventHub
from graphql_api.events.publisher import Publisher
from graphql_api.settings import Settings


class EventSystem:
    """The broker, this instance's hub and the publisher, started and stopped together."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.broker: Broker = (
            RedisBroker(settings.redis_url, settings.events_channel)
            if settings.redis_url
            else InProcessBroker()
        )
        self.hub = EventHub(
            db,
            broker_connected=lambda: self.broker.connected,
            poll_seconds_connected=settings.events_poll_seconds,
            poll_seconds_disconnected=min(0.5, settings.events_poll_seconds),
        )
        self.publisher = Publisher(
            db,
            self.broker,
            relay_seconds=settings.outbox_relay_seconds,
            retention=timedelta(days=settings.outbox_retention_days),
        )
        self._db = db

    async def start(self) -> None:
        await self.hub.start()
        await self.broker.start(self.hub.deliver, self.hub.catch_up)
        self.publisher.start_relay()
        self._db.on_events_committed = self.publisher.kick

    async def stop(self) -> None:
        self._db.on_events_committed = None
        await self.publisher.stop()
        await self.hub.shutdown()
        await self.broker.close()
