"""Identity use cases: sessions, self-service, administration, and who a credential is.

Never commits, never imports GraphQL. Secrets (refresh tokens, API keys, emailed
tokens) are returned to the caller once and stored only as digests.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from graphql_api.audit.recorder import note
from graphql_api.auth import credentials
from graphql_api.auth.passwords import Passwords, password_problems
from graphql_api.auth.principal import Principal, PrincipalKind, Role
from graphql_api.auth.tokens import InvalidTokenError as BadJwt
from graphql_api.auth.tokens import TokenIssuer
from graphql_api.db.models.user import ApiKey, OneTimeToken, RefreshToken, TokenPurpose, User
from graphql_api.errors import (
    DomainError,
    DuplicateEmailError,
    ErrorCode,
    InvalidCredentialsError,
    InvalidInputError,
    InvalidTokenError,
    NotFoundError,
    Violation,
)
from graphql_api.investors import service as investor_service
from graphql_api.users import repository

API_KEY_TOUCH_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Identity:
    """What the identity use cases need from the outside world."""

    passwords: Passwords
    issuer: TokenIssuer
    refresh_lifetime: timedelta = timedelta(days=30)
    emailed_token_lifetime: timedelta = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class IssuedSession:
    user: User
    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    """Either a new session, or the reason there is none (committed either way)."""

    session: IssuedSession | None
    error: DomainError | None


def _invalid_credentials() -> InvalidCredentialsError:
    return InvalidCredentialsError.single(
        ErrorCode.INVALID_CREDENTIALS, "Email or password is not correct."
    )


def _invalid_token(message: str, field: str) -> InvalidTokenError:
    return InvalidTokenError.single(ErrorCode.INVALID_TOKEN, message, field)


def _check_password(password: str, email: str | None, field: str = "password") -> None:
    if problems := password_problems(password, email):
        raise InvalidInputError([Violation(ErrorCode.VALIDATION, p, (field,)) for p in problems])


def normalised_email(raw: str) -> str:
    """The stored form of an address (lower case), whether or not it is valid."""
    return investor_service.normalise_email(raw)[0]


def _email(raw: str) -> str:
    email, problems = investor_service.normalise_email(raw)
    if problems:
        raise InvalidInputError(problems)
    return email


async def _start_session(
    session: AsyncSession,
    identity: Identity,
    user: User,
    now: datetime,
    family: uuid.UUID | None = None,
) -> IssuedSession:
    refresh = credentials.new_token()
    repository.add(
        session,
        RefreshToken(
            user_id=user.id,
            family_id=family or uuid.uuid4(),
            token_digest=credentials.digest(refresh),
            created_at=now,
            expires_at=now + identity.refresh_lifetime,
        ),
    )
    await session.flush()
    return IssuedSession(
        user=user,
        access_token=identity.issuer.issue(user.id, user.role.value, now),
        refresh_token=refresh,
        expires_in=int(identity.issuer.lifetime.total_seconds()),
    )


async def login(
    session: AsyncSession, identity: Identity, email: str, password: str, now: datetime
) -> IssuedSession:
    """A new session for valid credentials; the same answer for every kind of failure."""
    normalised, _ = investor_service.normalise_email(email)
    user = await repository.get_user_by_email(session, normalised)
    matched = await identity.passwords.verify(user.password_hash if user else None, password)
    if user is None or not matched or not user.is_active:
        raise _invalid_credentials()
    if identity.passwords.needs_rehash(user.password_hash):
        user.password_hash = await identity.passwords.hash(password)
    return await _start_session(session, identity, user, now)


async def refresh(
    session: AsyncSession, identity: Identity, token: str, now: datetime
) -> RefreshOutcome:
    """Rotate a refresh token. A token used twice revokes its whole family (theft)."""
    row = await repository.refresh_token_by_digest(session, credentials.digest(token))
    invalid = _invalid_token("The refresh token is not valid; log in again.", "refresh_token")
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return RefreshOutcome(None, invalid)
    if row.rotated_at is not None:
        await _end_family(session, row, now, "refresh token reused")
        return RefreshOutcome(None, invalid)
    user = await repository.get_user(session, row.user_id)
    if user is None or not user.is_active:
        await _end_family(session, row, now, "account inactive")
        return RefreshOutcome(None, invalid)
    row.rotated_at = now
    return RefreshOutcome(await _start_session(session, identity, user, now, row.family_id), None)


async def logout(session: AsyncSession, token: str, now: datetime) -> None:
    """End the session this refresh token belongs to (its whole family)."""
    row = await repository.refresh_token_by_digest(session, credentials.digest(token))
    if row is not None:
        await _end_family(session, row, now, "logout")


async def _end_family(session: AsyncSession, row: RefreshToken, now: datetime, why: str) -> None:
    """Revoke every token of a session (one bulk UPDATE) and say so in the audit log."""
    await repository.revoke_family(session, row.family_id, now)
    note(
        session,
        "RefreshTokenFamily",
        row.family_id,
        None,
        {"user_id": row.user_id, "revoked_at": now, "reason": why},
    )


async def register(
    session: AsyncSession, identity: Identity, email: str, password: str, now: datetime
) -> tuple[User, str] | None:
    """A new INVESTOR user and its verification token; None when the email is taken.

    The caller answers the same either way (no account enumeration) and mails
    the owner of an existing account instead.
    """
    normalised = _email(email)
    _check_password(password, normalised)
    # Hash first, whatever happens next: a taken address must cost the same time
    # as a new one, or the answer's timing would tell which addresses exist.
    password_hash = await identity.passwords.hash(password)
    if await repository.get_user_by_email(session, normalised) is not None:
        return None
    user = User(email=normalised, password_hash=password_hash, role=Role.INVESTOR)
    repository.add(session, user)
    await session.flush()
    token = await _emailed_token(session, identity, user, TokenPurpose.VERIFY_EMAIL, now)
    return user, token


async def _emailed_token(
    session: AsyncSession, identity: Identity, user: User, purpose: TokenPurpose, now: datetime
) -> str:
    if superseded := await repository.use_up_tokens(session, user.id, purpose, now):
        note(
            session,
            "UserEmailTokens",
            user.id,
            None,
            {"superseded": superseded, "purpose": purpose},
        )
    token = credentials.new_token()
    repository.add(
        session,
        OneTimeToken(
            user_id=user.id,
            purpose=purpose,
            token_digest=credentials.digest(token),
            created_at=now,
            expires_at=now + identity.emailed_token_lifetime,
        ),
    )
    await session.flush()
    return token


async def _consume(session: AsyncSession, token: str, purpose: TokenPurpose, now: datetime) -> User:
    row = await repository.one_time_token_by_digest(session, credentials.digest(token), purpose)
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise _invalid_token("The link is not valid or has expired; ask for a new one.", "token")
    row.used_at = now
    user = await repository.get_user(session, row.user_id)
    if user is None or not user.is_active:
        raise _invalid_token("The link is not valid or has expired; ask for a new one.", "token")
    return user


async def verify_email(session: AsyncSession, token: str, now: datetime) -> User:
    """Mark the email verified; an INVESTOR with an investor of that email is linked to it."""
    user = await _consume(session, token, TokenPurpose.VERIFY_EMAIL, now)
    user.email_verified_at = now
    if user.role is Role.INVESTOR and user.investor_id is None:
        investor = await investor_service.find_investor_by_email(session, user.email)
        if investor is not None:
            user.investor_id = investor.id
    await session.flush()
    return user


async def request_password_reset(
    session: AsyncSession, identity: Identity, email: str, now: datetime
) -> tuple[User, str] | None:
    """A reset token for an active account; None otherwise (the caller answers the same)."""
    normalised, problems = investor_service.normalise_email(email)
    user = None if problems else await repository.get_user_by_email(session, normalised)
    if user is None or not user.is_active:
        credentials.digest(credentials.new_token())  # comparable work either way
        return None
    return user, await _emailed_token(session, identity, user, TokenPurpose.RESET_PASSWORD, now)


async def _replace_password(
    session: AsyncSession, identity: Identity, user: User, password: str, now: datetime
) -> None:
    user.password_hash = await identity.passwords.hash(password)
    user.sessions_valid_after = now
    await _end_sessions(session, user, now, "password changed")


async def _end_sessions(session: AsyncSession, user: User, now: datetime, why: str) -> None:
    """Revoke every session of the user (one bulk UPDATE), and say so in the audit log."""
    await repository.revoke_user_families(session, user.id, now)
    note(session, "UserSessions", user.id, None, {"sessions_revoked_at": now, "reason": why})


async def reset_password(
    session: AsyncSession, identity: Identity, token: str, new_password: str, now: datetime
) -> User:
    """Set a new password with an emailed token; every session of the account ends."""
    row_user = await _consume(session, token, TokenPurpose.RESET_PASSWORD, now)
    _check_password(new_password, row_user.email, "new_password")
    await _replace_password(session, identity, row_user, new_password, now)
    await session.flush()
    return row_user


async def change_password(
    session: AsyncSession,
    identity: Identity,
    user_id: uuid.UUID,
    current: str,
    new_password: str,
    now: datetime,
) -> IssuedSession:
    """Change the password and end every other session; returns a fresh one for the caller."""
    user = await repository.get_user_for_update(session, user_id)
    if user is None or not await identity.passwords.verify(user.password_hash, current):
        raise InvalidCredentialsError.single(
            ErrorCode.INVALID_CREDENTIALS,
            "The current password is not correct.",
            "current_password",
        )
    _check_password(new_password, user.email, "new_password")
    await _replace_password(session, identity, user, new_password, now)
    # Issued just after the cut-off, so the caller's new session survives it.
    return await _start_session(session, identity, user, now + timedelta(milliseconds=1))


async def create_user(
    session: AsyncSession,
    identity: Identity,
    email: str,
    password: str,
    role: Role,
    investor_id: uuid.UUID | None,
    now: datetime,
) -> User:
    normalised = _email(email)
    _check_password(password, normalised)
    await _check_investor_link(session, role, investor_id)
    if await repository.get_user_by_email(session, normalised) is not None:
        raise DuplicateEmailError.single(
            ErrorCode.DUPLICATE_EMAIL, f"A user with email {normalised} already exists.", "email"
        )
    user = User(
        email=normalised,
        password_hash=await identity.passwords.hash(password),
        role=role,
        investor_id=investor_id,
        email_verified_at=now,
    )
    repository.add(session, user)
    await session.flush()
    return user


async def _check_investor_link(
    session: AsyncSession, role: Role, investor_id: uuid.UUID | None
) -> None:
    if investor_id is None:
        return
    if role is not Role.INVESTOR:
        raise InvalidInputError(
            [
                Violation(
                    ErrorCode.VALIDATION,
                    "Only INVESTOR users link to an investor.",
                    ("investor_id",),
                )
            ]
        )
    if await investor_service.find_investor(session, investor_id) is None:
        raise NotFoundError.single(ErrorCode.NOT_FOUND, "Investor not found.", "investor_id")


async def _user_for_change(session: AsyncSession, user_id: uuid.UUID | None) -> User:
    user = await repository.get_user_for_update(session, user_id) if user_id else None
    if user is None:
        raise NotFoundError.single(ErrorCode.NOT_FOUND, "User not found.", "user_id")
    return user


async def set_user_role(
    session: AsyncSession,
    user_id: uuid.UUID | None,
    role: Role,
    investor_id: uuid.UUID | None,
    now: datetime,
) -> User:
    """Change a user's role; outstanding access tokens end (their role claim is stale)."""
    user = await _user_for_change(session, user_id)
    await _check_investor_link(session, role, investor_id)
    user.role = role
    user.investor_id = investor_id if role is Role.INVESTOR else None
    user.sessions_valid_after = now
    await session.flush()
    return user


async def deactivate_user(session: AsyncSession, user_id: uuid.UUID | None, now: datetime) -> User:
    """Refused from the next request on, not when its tokens expire."""
    user = await _user_for_change(session, user_id)
    user.is_active = False
    user.sessions_valid_after = now
    await _end_sessions(session, user, now, "deactivated")
    await session.flush()
    return user


async def create_api_key(
    session: AsyncSession, name: str, role: Role, created_by: uuid.UUID | None, now: datetime
) -> tuple[ApiKey, str]:
    """A new key and its secret; the secret is never shown again."""
    cleaned = name.strip()
    if not 1 <= len(cleaned) <= 255:
        raise InvalidInputError(
            [Violation(ErrorCode.VALIDATION, "Name must be 1-255 characters.", ("name",))]
        )
    prefix, secret = credentials.new_api_key()
    key = ApiKey(
        name=cleaned,
        prefix=prefix,
        secret_digest=credentials.digest(secret),
        role=role,
        created_by=created_by,
        created_at=now,
    )
    repository.add(session, key)
    await session.flush()
    return key, secret


async def revoke_api_key(session: AsyncSession, key_id: uuid.UUID | None, now: datetime) -> ApiKey:
    key = await repository.get_api_key(session, key_id) if key_id else None
    if key is None:
        raise NotFoundError.single(ErrorCode.NOT_FOUND, "API key not found.", "id")
    if key.revoked_at is None:
        key.revoked_at = now
    await session.flush()
    return key


async def find_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await repository.get_user(session, user_id)


class UnauthenticatedError(Exception):
    """The credential presented does not identify an active principal."""


async def principal_for_access_token(
    session: AsyncSession, issuer: TokenIssuer, token: str
) -> tuple[Principal, datetime]:
    """The user a bearer token names, as they are now; and when the token expires."""
    try:
        claims = issuer.verify(token)
    except BadJwt as error:
        raise UnauthenticatedError(str(error)) from error
    user = await repository.get_user(session, claims.user_id)
    if user is None or not user.is_active:
        raise UnauthenticatedError("The account is not active.")
    if user.sessions_valid_after is not None and claims.issued_at < user.sessions_valid_after:
        raise UnauthenticatedError("The session has ended; log in again.")
    principal = Principal(
        kind=PrincipalKind.USER,
        id=user.id,
        role=user.role,
        investor_id=user.investor_id,
        email=user.email,
    )
    return principal, claims.expires_at


async def principal_for_api_key(
    session: AsyncSession, key: str, now: datetime
) -> tuple[Principal, bool]:
    """The principal of a presented API key, and whether `lastUsedAt` is due an update
    (at most once a minute, so using a key is not a write per request)."""
    prefix = credentials.api_key_prefix(key)
    row = await repository.api_key_by_prefix(session, prefix) if prefix else None
    if (
        row is None
        or row.revoked_at is not None
        or not credentials.same_digest(key, row.secret_digest)
    ):
        raise UnauthenticatedError("The API key is not valid.")
    due = row.last_used_at is None or now - row.last_used_at >= API_KEY_TOUCH_INTERVAL
    return Principal(kind=PrincipalKind.API_KEY, id=row.id, role=row.role), due


async def record_api_key_use(session: AsyncSession, key_id: uuid.UUID, now: datetime) -> None:
    await repository.touch_api_key(session, key_id, now)
