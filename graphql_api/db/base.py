"""Declarative base with a constraint naming convention, and shared column mixins.

Named constraints let Alembic drop and alter them on both back ends (SQLite
batch mode needs the names), and make the migration files readable.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import MetaData, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from graphql_api.db.ids import new_id
from graphql_api.db.types import UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Registry of every model; `Base.metadata` is what Alembic compares against."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UUIDPrimaryKey:
    """A UUIDv7 primary key generated in Python (so it is known before flush)."""

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=new_id, sort_order=-1)


class Timestamps:
    """`created_at` / `updated_at`, set by the server in UTC on both back ends."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, sort_order=1)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, sort_order=1
    )
