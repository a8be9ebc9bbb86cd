"""All SQL about users and their credentials."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from graphql_api.db.models.user import ApiKey, OneTimeToken, RefreshToken, TokenPurpose, User


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def get_user_for_update(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return (
        await session.execute(select(User).where(User.id == user_id).with_for_update())
    ).scalar_one_or_none()


async def users_by_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[User]:
    return list((await session.execute(select(User).where(User.id.in_(ids)))).scalars())


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    return (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()


async def count_users(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(User))).scalar_one())


async def list_users(session: AsyncSession, limit: int) -> list[User]:
    statement = select(User).order_by(User.created_at, User.id).limit(limit)
    return list((await session.execute(statement)).scalars())


def add(session: AsyncSession, record: User | RefreshToken | ApiKey | OneTimeToken) -> None:
    session.add(record)


async def refresh_token_by_digest(session: AsyncSession, digest: str) -> RefreshToken | None:
    statement = select(RefreshToken).where(RefreshToken.token_digest == digest).with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


async def revoke_family(session: AsyncSession, family_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


async def revoke_user_families(
    session: AsyncSession, user_id: uuid.UUID, now: datetime, keep: uuid.UUID | None = None
) -> None:
    statement = update(RefreshToken).where(
        RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None)
    )
    if keep is not None:
        statement = statement.where(RefreshToken.family_id != keep)
    await session.execute(
        statement.values(revoked_at=now).execution_options(synchronize_session=False)
    )


async def api_key_by_prefix(session: AsyncSession, prefix: str) -> ApiKey | None:
    return (
        await session.execute(select(ApiKey).where(ApiKey.prefix == prefix))
    ).scalar_one_or_none()


async def get_api_key(session: AsyncSession, key_id: uuid.UUID) -> ApiKey | None:
    return await session.get(ApiKey, key_id)


async def list_api_keys(session: AsyncSession, limit: int) -> list[ApiKey]:
    statement = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id).limit(limit)
    return list((await session.execute(statement)).scalars())


async def touch_api_key(session: AsyncSession, key_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id)
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )


async def one_time_token_by_digest(
    session: AsyncSession, digest: str, purpose: TokenPurpose
) -> OneTimeToken | None:
    statement = (
        select(OneTimeToken)
        .where(OneTimeToken.token_digest == digest, OneTimeToken.purpose == purpose)
        .with_for_update()
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def use_up_tokens(
    session: AsyncSession, user_id: uuid.UUID, purpose: TokenPurpose, now: datetime
) -> int:
    """Mark every open token of this purpose used (only the newest email's link works);
    returns how many were still open."""
    result = await session.execute(
        update(OneTimeToken)
        .where(
            OneTimeToken.user_id == user_id,
            OneTimeToken.purpose == purpose,
            OneTimeToken.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
