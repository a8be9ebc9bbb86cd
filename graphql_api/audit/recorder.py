"""Record audit entries for every ORM change made in a unit of work that says who acts.

Hooked to the session's flush: whatever a mutation inserts, updates or deletes
through the ORM is written to the audit log in the same transaction, with the
values before and after. Secret columns are redacted (after comparing, so a
changed password still shows as changed); the outbox and the log itself are not
audited. Changes made with bulk UPDATE statements bypass the ORM's flush, so
the code issuing them calls `note` to log them too.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import event, insert, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, UOWTransaction

from graphql_api.db.base import Base
from graphql_api.db.models.audit import AuditEntry
from graphql_api.db.models.outbox import OutboxEvent

AUDIT_CONTEXT = "graphql_api_audit"
REDACTED = "[REDACTED]"
_SECRET_WORDS = ("password", "digest", "secret", "token")
_NOT_AUDITED = (AuditEntry, OutboxEvent)
_PENDING = "graphql_api_audit_pending"


@dataclass(frozen=True, slots=True)
class AuditContext:
    """Who is acting, through which operation, in which request."""

    actor_kind: str
    actor_id: uuid.UUID | None
    action: str
    request_id: str | None = None


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def _redacted(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {
        key: REDACTED if any(word in key for word in _SECRET_WORDS) and value is not None else value
        for key, value in values.items()
    }


def _snapshot(instance: Base, *, before: bool) -> dict[str, Any]:
    state = inspect(instance)
    values: dict[str, Any] = {}
    for attribute in state.mapper.column_attrs:
        history = state.attrs[attribute.key].history
        if before and history.deleted:
            current = history.deleted[0]
        elif before and history.unchanged:
            current = history.unchanged[0]
        elif before:
            continue  # not loaded, not changed
        else:
            current = getattr(instance, attribute.key)
        values[attribute.key] = _plain(current)
    return values


def _changed_only(
    before: dict[str, Any], after: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    changed = {key for key in after if before.get(key) != after[key]}
    return (
        {k: v for k, v in before.items() if k in changed},
        {k: v for k, v in after.items() if k in changed},
    )


@dataclass
class _Pending:
    instance: Base
    operation: str
    before: dict[str, Any] | None


def _capture(session: Session, flush_context: UOWTransaction, instances: Any) -> None:
    """Before the flush: note what changes, and the values updates and deletes had."""
    if not isinstance(session.info.get(AUDIT_CONTEXT), AuditContext):
        return
    pending: list[_Pending] = session.info.setdefault(_PENDING, [])
    for instance in session.new:
        if isinstance(instance, Base) and not isinstance(instance, _NOT_AUDITED):
            pending.append(_Pending(instance, "insert", None))
    for instance in session.dirty:
        if (
            isinstance(instance, Base)
            and not isinstance(instance, _NOT_AUDITED)
            and session.is_modified(instance, include_collections=False)
        ):
            pending.append(_Pending(instance, "update", _snapshot(instance, before=True)))
    for instance in session.deleted:
        if isinstance(instance, Base) and not isinstance(instance, _NOT_AUDITED):
            pending.append(_Pending(instance, "delete", _snapshot(instance, before=True)))


def _write(session: Session, flush_context: UOWTransaction) -> None:
    """After the flush (keys are known): add the entries; the commit flushes them too."""
    context = session.info.get(AUDIT_CONTEXT)
    pending: list[_Pending] = session.info.pop(_PENDING, [])
    if not isinstance(context, AuditContext) or not pending:
        return
    entries = []
    for item in pending:
        after = None if item.operation == "delete" else _snapshot(item.instance, before=False)
        before = item.before
        if before is not None and after is not None:
            before, after = _changed_only(before, after)
        entity_id = getattr(item.instance, "id", None)
        entries.append(
            _entry(
                context,
                type(item.instance).__name__,
                entity_id if isinstance(entity_id, uuid.UUID) else None,
                before,
                after,
            )
        )
    session.add_all(entries)


def _entry(
    context: AuditContext,
    entity_type: str,
    entity_id: uuid.UUID | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> AuditEntry:
    return AuditEntry(
        actor_kind=context.actor_kind,
        actor_id=context.actor_id,
        action=context.action,
        entity_type=entity_type,
        entity_id=entity_id,
        before=_redacted(before),
        after=_redacted(after),
        request_id=context.request_id,
    )


def note(
    session: AsyncSession,
    entity_type: str,
    entity_id: uuid.UUID | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """Log a change made by a bulk UPDATE (which the flush hooks never see)."""
    context = session.info.get(AUDIT_CONTEXT)
    if not isinstance(context, AuditContext):
        return
    plain = {key: _plain(value) for key, value in (before or {}).items()}
    session.add(
        _entry(
            context,
            entity_type,
            entity_id,
            plain if before is not None else None,
            {key: _plain(value) for key, value in after.items()} if after is not None else None,
        )
    )


AuditedChange = tuple[str, uuid.UUID | None, dict[str, Any] | None, dict[str, Any] | None]
"""(entity type, entity id, values before, values after), as `note` takes them."""


async def note_many(session: AsyncSession, changes: Sequence[AuditedChange]) -> None:
    """Log many changes made outside the ORM's flush in one INSERT (a bulk mutation's).

    Objects added one by one would be inserted one statement each on SQLite,
    which cannot match RETURNING rows to them.
    """
    context = session.info.get(AUDIT_CONTEXT)
    if not isinstance(context, AuditContext) or not changes:
        return
    rows = [
        {
            "actor_kind": context.actor_kind,
            "actor_id": context.actor_id,
            "action": context.action,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "before": _redacted(_plain_values(before)),
            "after": _redacted(_plain_values(after)),
            "request_id": context.request_id,
        }
        for entity_type, entity_id, before, after in changes
    ]
    await session.execute(insert(AuditEntry), rows)


def _plain_values(values: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if values is None else {key: _plain(value) for key, value in values.items()}


def install() -> None:
    """Listen on every session (idempotent)."""
    if not event.contains(Session, "before_flush", _capture):
        event.listen(Session, "before_flush", _capture)
        event.listen(Session, "after_flush", _write)
