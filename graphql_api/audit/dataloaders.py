"""Per-request loader of entity histories (many funds' history, one statement)."""

from __future__ import annotations

import uuid

from aiodataloader import DataLoader

from graphql_api.audit import service as audit_service
from graphql_api.db.keyset import AnyRow, Page, Window
from graphql_api.db.session import Database

HistoryKey = tuple[uuid.UUID, Window]


class HistoryLoader(DataLoader[HistoryKey, Page[AnyRow]]):
    def __init__(self, db: Database, entity_type: str) -> None:
        super().__init__()
        self._db = db
        self._entity_type = entity_type

    async def batch_load_fn(self, keys: list[HistoryKey]) -> list[Page[AnyRow]]:
        by_window: dict[Window, list[uuid.UUID]] = {}
        for entity_id, window in keys:
            by_window.setdefault(window, []).append(entity_id)
        pages: dict[HistoryKey, Page[AnyRow]] = {}
        async with self._db.read_session() as session:
            for window, ids in by_window.items():
                found = await audit_service.history(
                    session, self._entity_type, list(dict.fromkeys(ids)), window
                )
                pages.update(((entity_id, window), page) for entity_id, page in found.items())
        return [pages[key] for key in keys]
