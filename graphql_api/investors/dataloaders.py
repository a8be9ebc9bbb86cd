"""Per-request batch loaders for investors."""

from __future__ import annotations

import uuid

from aiodataloader import DataLoader

from graphql_api.auth.principal import EVERYTHING, Viewer
from graphql_api.db.session import Database
from graphql_api.investors import service as investor_service
from graphql_api.investors.repository import InvestorRow


class InvestorByIdLoader(DataLoader[uuid.UUID, InvestorRow | None]):
    """Investors by key; `None` for a key with no investor."""

    def __init__(self, db: Database, viewer: Viewer = EVERYTHING) -> None:
        super().__init__()
        self._db = db
        self._viewer = viewer

    async def batch_load_fn(self, keys: list[uuid.UUID]) -> list[InvestorRow | None]:
        async with self._db.read_session() as session:
            rows = await investor_service.investors_by_ids(session, keys, self._viewer)
        by_id = {row.id: row for row in rows}
        return [by_id.get(key) for key in keys]
