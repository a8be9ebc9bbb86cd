"""Per-request batch loaders for funds: many `load(id)` calls, one SELECT."""

from __future__ import annotations

import uuid

from aiodataloader import DataLoader

from graphql_api.auth.principal import EVERYTHING, Viewer
from graphql_api.db.session import Database
from graphql_api.funds import service as fund_service
from graphql_api.funds.repository import FundRow


class FundByIdLoader(DataLoader[uuid.UUID, FundRow | None]):
    """Funds by key; `None` for a key with no fund."""

    def __init__(self, db: Database, viewer: Viewer = EVERYTHING) -> None:
        super().__init__()
        self._db = db
        self._viewer = viewer

    async def batch_load_fn(self, keys: list[uuid.UUID]) -> list[FundRow | None]:
        async with self._db.read_session() as session:
            rows = await fund_service.funds_by_ids(session, keys)
        by_id = {row.id: row for row in rows}
        return [by_id.get(key) for key in keys]
