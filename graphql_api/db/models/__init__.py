"""Every model, imported here so `Base.metadata` knows all tables (Alembic needs that)."""

from graphql_api.db.models.fund import Fund, FundStatus
from graphql_api.db.models.investment import Investment
from graphql_api.db.models.investor import Investor, InvestorType
from graphql_api.db.models.outbox import OutboxEvent

__all__ = ["Fund", "FundStatus", "Investment", "Investor", "InvestorType", "OutboxEvent"]
