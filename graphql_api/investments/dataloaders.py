"""Per-request batch loaders for investments and their aggregates.

Nested connections (`funds { investments(first: 20) }`) load the pages of all
parents in one statement; summaries and totals are one grouped query per batch.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from aiodataloader import DataLoader

from graphql_api.auth.principal import EVERYTHING, Viewer
from graphql_api.db.keyset import Ordering, Page, Window
from graphql_api.db.session import Database
from graphql_api.investments import service as investment_service
from graphql_api.investments.filters import InvestmentFilter, Related
from graphql_api.investments.repository import InvestmentRow, Parent
from graphql_api.investments.service import FundTotals


@dataclass(frozen=True, slots=True)
class NestedPageQuery:
    """The arguments of a nested connection; parents asking the same share one statement."""

    criteria: InvestmentFilter | None
    ordering: Ordering
    window: Window
    related: Related


PageKey = tuple[uuid.UUID, NestedPageQuery]
CountKey = tuple[uuid.UUID, InvestmentFilter | None]


class InvestmentByIdLoader(DataLoader[uuid.UUID, InvestmentRow | None]):
    def __init__(self, db: Database, viewer: Viewer = EVERYTHING) -> None:
        super().__init__()
        self._db = db
        self._viewer = viewer

    async def batch_load_fn(self, keys: list[uuid.UUID]) -> list[InvestmentRow | None]:
        async with self._db.read_session() as session:
            rows = await investment_service.investments_by_ids(session, keys, self._viewer)
        by_id = {row.id: row for row in rows}
        return [by_id.get(key) for key in keys]


class InvestmentPagesLoader(DataLoader[PageKey, Page[InvestmentRow]]):
    """A page of a fund's (or an investor's) investments, for many parents at once."""

    def __init__(self, db: Database, parent: Parent, viewer: Viewer = EVERYTHING) -> None:
        super().__init__()
        self._db = db
        self._parent: Parent = parent
        self._viewer = viewer

    async def batch_load_fn(self, keys: list[PageKey]) -> list[Page[InvestmentRow]]:
        parents_by_query: dict[NestedPageQuery, list[uuid.UUID]] = {}
        for parent_id, query in keys:
            parents_by_query.setdefault(query, []).append(parent_id)
        pages: dict[PageKey, Page[InvestmentRow]] = {}
        async with self._db.read_session() as session:
            for query, parent_ids in parents_by_query.items():
                found = await investment_service.pages_by_parent(
                    session,
                    self._parent,
                    list(dict.fromkeys(parent_ids)),
                    query.criteria,
                    query.ordering,
                    query.window,
                    query.related,
                    self._viewer,
                )
                pages.update(((parent_id, query), page) for parent_id, page in found.items())
        return [pages[key] for key in keys]


class InvestmentCountsLoader(DataLoader[CountKey, int]):
    """How many investments each parent has (matching a filter): one grouped query."""

    def __init__(self, db: Database, parent: Parent, viewer: Viewer = EVERYTHING) -> None:
        super().__init__()
        self._db = db
        self._parent: Parent = parent
        self._viewer = viewer

    async def batch_load_fn(self, keys: list[CountKey]) -> list[int]:
        parents_by_filter: dict[InvestmentFilter | None, list[uuid.UUID]] = {}
        for parent_id, criteria in keys:
            parents_by_filter.setdefault(criteria, []).append(parent_id)
        counts: dict[CountKey, int] = {}
        async with self._db.read_session() as session:
            for criteria, parent_ids in parents_by_filter.items():
                found = await investment_service.counts_by_parent(
                    session, self._parent, list(dict.fromkeys(parent_ids)), criteria, self._viewer
                )
                counts.update(((parent_id, criteria), n) for parent_id, n in found.items())
        return [counts[key] for key in keys]


class FundTotalsLoader(DataLoader[uuid.UUID, FundTotals]):
    """Committed amount, counts and split by investor type, for many funds at once."""

    def __init__(self, db: Database, viewer: Viewer = EVERYTHING) -> None:
        super().__init__()
        self._db = db
        self._viewer = viewer

    async def batch_load_fn(self, keys: list[uuid.UUID]) -> list[FundTotals]:
        async with self._db.read_session() as session:
            totals = await investment_service.fund_totals(session, keys, self._viewer)
        return [totals[key] for key in keys]


class InvestorTotalLoader(DataLoader[uuid.UUID, Decimal]):
    """Total committed by each investor, for many investors at once."""

    def __init__(self, db: Database, viewer: Viewer = EVERYTHING) -> None:
        super().__init__()
        self._db = db
        self._viewer = viewer

    async def batch_load_fn(self, keys: list[uuid.UUID]) -> list[Decimal]:
        async with self._db.read_session() as session:
            totals = await investment_service.investor_totals(session, keys, self._viewer)
        return [totals[key] for key in keys]
