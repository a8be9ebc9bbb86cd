"""The typed container of every per-request loader.

Created once per request (never shared between requests: a loader caches what
it loaded, and that cache must not outlive the request or cross principals).
Each loader is built on first use, so a request pays only for what it touches.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import cached_property

from graphql_api.audit.dataloaders import HistoryLoader
from graphql_api.auth.principal import EVERYTHING, Viewer
from graphql_api.db.session import Database
from graphql_api.funds.dataloaders import FundByIdLoader
from graphql_api.investments.dataloaders import (
    FundTotalsLoader,
    InvestmentByIdLoader,
    InvestmentCountsLoader,
    InvestmentPagesLoader,
    InvestorTotalLoader,
)
from graphql_api.investors.dataloaders import InvestorByIdLoader


class Loaders:
    def __init__(self, db: Database, viewer: Viewer = EVERYTHING) -> None:
        self._db = db
        self.viewer = viewer

    @cached_property
    def fund_by_id(self) -> FundByIdLoader:
        return FundByIdLoader(self._db, self.viewer)

    @cached_property
    def investor_by_id(self) -> InvestorByIdLoader:
        return InvestorByIdLoader(self._db, self.viewer)

    @cached_property
    def investment_by_id(self) -> InvestmentByIdLoader:
        return InvestmentByIdLoader(self._db, self.viewer)

    @cached_property
    def investments_by_fund(self) -> InvestmentPagesLoader:
        return InvestmentPagesLoader(self._db, "fund", self.viewer)

    @cached_property
    def investments_by_investor(self) -> InvestmentPagesLoader:
        return InvestmentPagesLoader(self._db, "investor", self.viewer)

    @cached_property
    def investment_count_by_fund(self) -> InvestmentCountsLoader:
        return InvestmentCountsLoader(self._db, "fund", self.viewer)

    @cached_property
    def investment_count_by_investor(self) -> InvestmentCountsLoader:
        return InvestmentCountsLoader(self._db, "investor", self.viewer)

    @cached_property
    def fund_totals(self) -> FundTotalsLoader:
        return FundTotalsLoader(self._db, self.viewer)

    @cached_property
    def fund_history(self) -> HistoryLoader:
        return HistoryLoader(self._db, "Fund")

    @cached_property
    def investor_total(self) -> InvestorTotalLoader:
        return InvestorTotalLoader(self._db, self.viewer)


class SharedEventLoaders:
    """Loaders shared by every local subscriber of one event.

    A thousand subscribers of one fund's feed would otherwise load the same fund
    a thousand times; keyed by event position, the first one loads it and the
    others hit the cache. Only the most recent events are kept.
    """

    def __init__(self, db: Database, size: int = 256) -> None:
        self._db = db
        self._size = size
        self._by_event: OrderedDict[tuple[int, Viewer], Loaders] = OrderedDict()

    def for_event(self, position: int, viewer: Viewer) -> Loaders:
        """Loaders for one event, shared only by subscribers who may see the same rows."""
        key = (position, viewer)
        loaders = self._by_event.get(key)
        if loaders is None:
            loaders = self._by_event[key] = Loaders(self._db, viewer)
            if len(self._by_event) > self._size:
                self._by_event.popitem(last=False)
        return loaders
