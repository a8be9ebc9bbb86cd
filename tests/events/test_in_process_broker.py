"""InProcessBroker: the embedded mode's broker hands batches straight to this process's hub."""

from __future__ import annotations

from graphql_api.events.broker import InProcessBroker
from graphql_api.events.records import EventRecord
from tests.events.support import make_record


class Collector:
    def __init__(self) -> None:
        self.batches: list[list[EventRecord]] = []
        self.reconnects = 0

    async def on_events(self, records: list[EventRecord]) -> None:
        self.batches.append(records)

    async def on_reconnect(self) -> None:
        self.reconnects += 1


class TestInProcessBroker:
    async def test_publish_hands_the_batch_to_the_started_listener(self) -> None:
        # Given a started broker
        broker, collector = InProcessBroker(), Collector()
        await broker.start(collector.on_events, collector.on_reconnect)

        # When a batch is published
        batch = [make_record(1), make_record(2)]
        await broker.publish(batch)

        # Then the listener has it, and the broker counts as connected
        assert collector.batches == [batch]
        assert broker.connected

    async def test_before_start_and_after_close_publishing_goes_nowhere(self) -> None:
        # Given a broker not started yet
        broker, collector = InProcessBroker(), Collector()
        await broker.publish([make_record(1)])
        assert not broker.connected

        # When it is started, then closed, and published to again
        await broker.start(collector.on_events, collector.on_reconnect)
        await broker.close()
        await broker.publish([make_record(2)])

        # Then nothing reached the listener, and it is disconnected
        assert collector.batches == []
        assert not broker.connected
