"""Every model, imported here so `Base.metadata` knows all tables (Alembic needs that)."""

from graphql_api.db.models.audit import AuditEntry
from graphql_api.db.models.fund import Fund, FundStatus
from graphql_api.db.models.idempotency import IdempotencyKey
from graphql_api.db.models.investment import Investment
from graphql_api.db.models.investor import Investor, InvestorType
from graphql_api.db.models.outbox import OutboxEvent
from graphql_api.db.models.user import ApiKey, OneTimeToken, RefreshToken, User

__all__ = [
    "ApiKey",
    "AuditEntry",
    "Fund",
    "FundStatus",
    "IdempotencyKey",
    "Investment",
    "Investor",
    "InvestorType",
    "OneTimeToken",
    "OutboxEvent",
    "RefreshToken",
    "User",
]
