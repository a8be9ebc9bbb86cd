"""GraphQL types of the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from graphql_api.schema.ids import to_global_id
from graphql_api.schema.pagination import Connection

_GLOBAL_TYPES = {"Fund", "Investor", "Investment", "User", "ApiKey"}


def _global(entity_type: str | None, key: uuid.UUID | None) -> strawberry.ID | None:
    if key is None or entity_type not in _GLOBAL_TYPES:
        return None
    return strawberry.ID(to_global_id(entity_type, key))


@strawberry.type(description="One change: who made it, through which operation, before and after.")
class AuditEntry:
    id: strawberry.ID = strawberry.field(description="Position in the log (newer is larger).")
    occurred_at: datetime = strawberry.field(description="When the change committed (UTC).")
    actor_kind: str = strawberry.field(description="USER, API_KEY or ANONYMOUS (self-service).")
    actor_id: strawberry.ID | None = strawberry.field(description="The user or API key that acted.")
    action: str = strawberry.field(description="The mutation, e.g. updateFund.")
    entity_type: str = strawberry.field(description="What changed, e.g. Fund.")
    entity_id: strawberry.ID | None = strawberry.field(
        description="The changed record's global ID."
    )
    before: JSON | None = strawberry.field(description="Changed fields before (secrets redacted).")
    after: JSON | None = strawberry.field(description="Changed fields after (secrets redacted).")
    request_id: str | None = strawberry.field(description="The request that made the change.")

    @classmethod
    def from_row(cls, row: Any) -> AuditEntry:
        actor_type = {"USER": "User", "API_KEY": "ApiKey"}.get(row.actor_kind)
        return cls(
            id=strawberry.ID(str(row.id)),
            occurred_at=row.occurred_at,
            actor_kind=row.actor_kind,
            actor_id=_global(actor_type, row.actor_id),
            action=row.action,
            entity_type=row.entity_type,
            entity_id=_global(row.entity_type, row.entity_id),
            before=row.before,
            after=row.after,
            request_id=row.request_id,
        )


@strawberry.type(description="A page of the audit log, newest first.")
class AuditEntryConnection(Connection[AuditEntry]):
    pass
