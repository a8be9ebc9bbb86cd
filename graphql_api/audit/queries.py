"""`auditLog(filter, first, after)`: the audit log, newest first (ADMIN)."""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry
from strawberry.types import Info

from graphql_api.audit import service as audit_service
from graphql_api.audit.repository import AuditFilter
from graphql_api.audit.types import AuditEntry, AuditEntryConnection
from graphql_api.auth.principal import ADMINS
from graphql_api.db.filtering import Comparison
from graphql_api.schema.arguments import After, Before, First, Last
from graphql_api.schema.context import Context
from graphql_api.schema.filters import DateTimeFilter, IDFilter, capped
from graphql_api.schema.ids import from_global_id
from graphql_api.schema.pagination import build_connection, page_window
from graphql_api.schema.permissions import allow


@strawberry.input(
    name="AuditFilter", description="Narrow the audit log; every field given must hold."
)
class AuditFilterInput:
    entity_type: list[str] | None = strawberry.field(
        default=None, description="Only these kinds of record (e.g. Fund, Investor)."
    )
    entity_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only changes to this record (a global ID)."
    )
    actor_id: IDFilter | None = strawberry.field(
        default=None, description="Only by these actors (User or ApiKey IDs)."
    )
    action: list[str] | None = strawberry.field(
        default=None, description="Only these mutations (e.g. updateFund)."
    )
    occurred_at: DateTimeFilter | None = strawberry.field(default=None, description="When.")

    def to_filter(self) -> AuditFilter:
        decoded = from_global_id(self.entity_id) if self.entity_id else None
        entity = None
        if self.entity_id is not None:
            # An ID that names nothing matches nothing (rather than everything).
            entity = Comparison(eq=decoded[1] if decoded else _NO_RECORD)
        types = capped(self.entity_type, "entityType")
        actions = capped(self.action, "action")
        return AuditFilter(
            entity_type=Comparison(in_=types) if types is not None else None,
            entity_id=entity,
            actor_id=(
                self.actor_id.to_comparison("User", "actorId", "ApiKey") if self.actor_id else None
            ),
            action=Comparison(in_=actions) if actions is not None else None,
            occurred_at=self.occurred_at.to_comparison() if self.occurred_at else None,
        )


_NO_RECORD = uuid.UUID(int=0)


@strawberry.type
class AuditQueries:
    @strawberry.field(
        description="Every change, newest first (ADMIN).", extensions=[allow(*ADMINS)]
    )
    async def audit_log(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[
            AuditFilterInput | None, strawberry.argument(description="Only entries matching this.")
        ] = None,
    ) -> AuditEntryConnection:
        window = page_window(
            audit_service.NEWEST_FIRST, first=first, after=after, last=last, before=before
        )
        criteria = filter.to_filter() if filter else None
        db = info.context.db
        async with db.read_session() as session:
            page = await audit_service.list_entries(session, criteria, window)

        async def count() -> int:
            async with db.read_session() as session:
                return await audit_service.count(session, criteria)

        return build_connection(
            AuditEntryConnection, page, audit_service.NEWEST_FIRST, AuditEntry.from_row, count
        )
