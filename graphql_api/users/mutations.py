"""Identity mutations: sessions, self-service and administration. Thin, like every slice."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import strawberry
from strawberry.types import Info

from graphql_api.auth.principal import ADMINS, PrincipalKind, Role
from graphql_api.db.models.user import User as UserModel
from graphql_api.db.session import UnitOfWork
from graphql_api.errors import ErrorCode
from graphql_api.mail import Mail
from graphql_api.observability import metrics
from graphql_api.schema.context import Context
from graphql_api.schema.errors import ApiErrorCode, UserError, api_error, user_errors
from graphql_api.schema.ids import key_of
from graphql_api.schema.mutations import in_unit_of_work
from graphql_api.schema.permissions import allow, allow_anyone
from graphql_api.users import mails
from graphql_api.users import service as user_service
from graphql_api.users.inputs import (
    ChangePasswordInput,
    CreateApiKeyInput,
    CreateUserInput,
    DeactivateUserInput,
    LogoutInput,
    RegisterInput,
    RequestPasswordResetInput,
    ResetPasswordInput,
    RevokeApiKeyInput,
    SetUserRoleInput,
    VerifyEmailInput,
)
from graphql_api.users.service import IssuedSession
from graphql_api.users.types import API_KEY_TYPE, USER_TYPE, ApiKey, AuthPayload, User

logger = logging.getLogger(__name__)
INPUT = strawberry.argument(description="What to do.")
EVERY_ROLE = (Role.ADMIN, Role.MANAGER, Role.ANALYST, Role.INVESTOR)


def _now() -> datetime:
    return datetime.now(UTC)


SessionPayloadT = TypeVar("SessionPayloadT", AuthPayload, "ChangePasswordPayload")


def _session_payload(
    issued: IssuedSession | None, errors: list[UserError], payload: type[SessionPayloadT]
) -> SessionPayloadT:
    if issued is None:
        return payload(
            access_token=None, refresh_token=None, expires_in=None, user=None, errors=errors
        )
    return payload(
        access_token=issued.access_token,
        refresh_token=issued.refresh_token,
        expires_in=issued.expires_in,
        user=User.from_model(issued.user),
        errors=[],
    )


MAILS_PER_ADDRESS_PER_HOUR = 5


def _send_later(info: Info[Context, None], uow: UnitOfWork, mail: Mail) -> None:
    """Send once committed, in the background: the answer does not wait for SMTP
    (and takes the same time whether or not a mail goes out).

    At most MAILS_PER_ADDRESS_PER_HOUR mails go to one address, so nobody can
    use register or requestPasswordReset to flood someone's inbox; past the cap
    mails are silently dropped (the answer must not differ).
    """
    identity = info.context.runtime.identity

    async def send() -> None:
        try:
            recipient = hashlib.sha256(mail.to.encode()).hexdigest()[:32]
            sent, _ = await identity.store.increment(f"mails-to:{recipient}", 3600)
            if sent > MAILS_PER_ADDRESS_PER_HOUR:
                logger.warning("mail %r not sent: too many mails to one address", mail.subject)
                return
            await identity.mailer.send(mail)
        except Exception:  # a mail server outage must not fail the request
            logger.exception("could not send mail %r to %s", mail.subject, mail.to)

    async def schedule() -> None:
        info.context.runtime.background(send())

    uow.after_commit(schedule)


@strawberry.type(description="Result of `logout`.")
class LogoutPayload:
    ok: bool = strawberry.field(description="True when accepted.")
    errors: list[UserError] = strawberry.field(description="Why not; empty on success.")


@strawberry.type(description="Result of `register`.")
class RegisterPayload:
    ok: bool = strawberry.field(description="True when accepted.")
    errors: list[UserError] = strawberry.field(description="Why not; empty on success.")


@strawberry.type(description="Result of `requestPasswordReset`.")
class RequestPasswordResetPayload:
    ok: bool = strawberry.field(description="True when accepted.")
    errors: list[UserError] = strawberry.field(description="Why not; empty on success.")


@strawberry.type(description="Result of `verifyEmail`.")
class VerifyEmailPayload:
    user: User | None = strawberry.field(description="The user; null when `errors` is not empty.")
    errors: list[UserError] = strawberry.field(description="Why nothing changed; empty on success.")


@strawberry.type(description="Result of `resetPassword`.")
class ResetPasswordPayload:
    user: User | None = strawberry.field(description="The user; null when `errors` is not empty.")
    errors: list[UserError] = strawberry.field(description="Why nothing changed; empty on success.")


@strawberry.type(description="Result of `createUser`.")
class CreateUserPayload:
    user: User | None = strawberry.field(description="The user; null when `errors` is not empty.")
    errors: list[UserError] = strawberry.field(description="Why nothing changed; empty on success.")


@strawberry.type(description="Result of `setUserRole`.")
class SetUserRolePayload:
    user: User | None = strawberry.field(description="The user; null when `errors` is not empty.")
    errors: list[UserError] = strawberry.field(description="Why nothing changed; empty on success.")


@strawberry.type(description="Result of `deactivateUser`.")
class DeactivateUserPayload:
    user: User | None = strawberry.field(description="The user; null when `errors` is not empty.")
    errors: list[UserError] = strawberry.field(description="Why nothing changed; empty on success.")


@strawberry.type(description="Result of `changePassword`: a fresh session (the others have ended).")
class ChangePasswordPayload(AuthPayload):
    pass


@strawberry.type(
    description="Result of `createApiKey`: the secret is shown here once, never again."
)
class CreateApiKeyPayload:
    api_key: ApiKey | None = strawberry.field(description="The new key's details.")
    secret: str | None = strawberry.field(
        description="The key itself, to send as `X-API-Key`. Store it now: it is not kept."
    )
    errors: list[UserError] = strawberry.field(description="Why no key was made; empty on success.")


@strawberry.type(description="Result of `revokeApiKey`.")
class RevokeApiKeyPayload:
    api_key: ApiKey | None = strawberry.field(description="The revoked key.")
    errors: list[UserError] = strawberry.field(description="Why nothing changed; empty on success.")


UserPayloadT = TypeVar(
    "UserPayloadT",
    VerifyEmailPayload,
    ResetPasswordPayload,
    CreateUserPayload,
    SetUserRolePayload,
    DeactivateUserPayload,
)


async def _user_change(
    info: Info[Context, None],
    payload: type[UserPayloadT],
    action: Callable[[UnitOfWork], Awaitable[UserModel]],
) -> UserPayloadT:
    user, errors = await in_unit_of_work(info, action)
    return payload(user=User.from_model(user) if user else None, errors=errors)


@strawberry.type
class SessionMutations:
    @strawberry.mutation(description="Log in with email and password.", extensions=[allow_anyone()])
    async def login(
        self,
        info: Info[Context, None],
        email: Annotated[str, strawberry.argument(description="The account's email.")],
        password: Annotated[str, strawberry.argument(description="The account's password.")],
    ) -> AuthPayload:
        context = info.context
        identity = context.runtime.identity
        client_ip = context.client_ip
        account = user_service.normalised_email(email)
        if (retry_after := await identity.throttle.attempt(account, client_ip)) is not None:
            metrics.RATE_LIMITED.labels("login").inc()
            raise api_error(
                ApiErrorCode.RATE_LIMITED,
                f"Too many failed logins; try again in {retry_after} seconds.",
                retryAfter=retry_after,
            )

        async def start(uow: UnitOfWork) -> IssuedSession:
            return await user_service.login(uow.session, identity.identity, email, password, _now())

        issued, errors = await in_unit_of_work(info, start, input_path=())
        if issued is not None:
            await identity.throttle.succeeded(account, client_ip)
        return _session_payload(issued, errors, AuthPayload)

    @strawberry.mutation(
        description=(
            "Exchange a refresh token for a new session. Each refresh token works once: "
            "using one again ends the whole session (a stolen token is useless)."
        ),
        extensions=[allow_anyone()],
    )
    async def refresh_token(
        self,
        info: Info[Context, None],
        refresh_token: Annotated[
            str, strawberry.argument(description="The current refresh token.")
        ],
    ) -> AuthPayload:
        identity = info.context.runtime.identity.identity

        async def rotate(uow: UnitOfWork) -> user_service.RefreshOutcome:
            return await user_service.refresh(uow.session, identity, refresh_token, _now())

        outcome, errors = await in_unit_of_work(info, rotate, input_path=())
        if outcome is not None and outcome.error is not None:
            errors = user_errors(outcome.error, input_path=())
        return _session_payload(outcome.session if outcome else None, errors, AuthPayload)

    @strawberry.mutation(
        description="End the session of this refresh token (and the access token sent with it).",
        extensions=[allow_anyone()],
    )
    async def logout(
        self, info: Info[Context, None], input: Annotated[LogoutInput, INPUT]
    ) -> LogoutPayload:
        context = info.context
        refresh_token = input.refresh_token

        async def end(uow: UnitOfWork) -> bool:
            await user_service.logout(uow.session, refresh_token, _now())
            return True

        await in_unit_of_work(info, end)
        await context.revoke_access_token()
        return LogoutPayload(ok=True, errors=[])

    @strawberry.mutation(
        description="Change your password; every other session ends, this one gets new tokens.",
        extensions=[allow(*EVERY_ROLE)],
    )
    async def change_password(
        self, info: Info[Context, None], input: Annotated[ChangePasswordInput, INPUT]
    ) -> ChangePasswordPayload:
        context = info.context
        principal = context.principal
        user_id = principal.id
        if user_id is None or principal.kind is not PrincipalKind.USER:
            raise api_error(ApiErrorCode.FORBIDDEN, "Only users have passwords (not API keys).")
        identity = context.runtime.identity.identity

        async def change(uow: UnitOfWork) -> IssuedSession:
            return await user_service.change_password(
                uow.session, identity, user_id, input.current_password, input.new_password, _now()
            )

        issued, errors = await in_unit_of_work(info, change)
        return _session_payload(issued, errors, ChangePasswordPayload)


@strawberry.type
class SelfServiceMutations:
    @strawberry.mutation(
        description=(
            "Create an account (when registration is enabled). The answer is the same "
            "whether or not the email is taken; the mail says what happens next."
        ),
        extensions=[allow_anyone()],
    )
    async def register(
        self, info: Info[Context, None], input: Annotated[RegisterInput, INPUT]
    ) -> RegisterPayload:
        runtime = info.context.runtime.identity
        if not runtime.allow_signup:
            return RegisterPayload(
                ok=False,
                errors=[
                    UserError(
                        code=ErrorCode.SIGNUP_DISABLED,
                        message="Registration is disabled.",
                        field=None,
                    )
                ],
            )

        async def create(uow: UnitOfWork) -> bool:
            created = await user_service.register(
                uow.session, runtime.identity, input.email, input.password, _now()
            )
            if created is None:
                email = user_service.normalised_email(input.email)
                _send_later(info, uow, mails.already_registered(email, runtime.public_url))
            else:
                user, token = created
                _send_later(info, uow, mails.verify_email(user.email, token, runtime.public_url))
            return True

        done, errors = await in_unit_of_work(info, create)
        return RegisterPayload(ok=bool(done), errors=errors)

    @strawberry.mutation(
        description="Confirm an email address with the emailed token.", extensions=[allow_anyone()]
    )
    async def verify_email(
        self, info: Info[Context, None], input: Annotated[VerifyEmailInput, INPUT]
    ) -> VerifyEmailPayload:
        return await _user_change(
            info,
            VerifyEmailPayload,
            lambda uow: user_service.verify_email(uow.session, input.token, _now()),
        )

    @strawberry.mutation(
        description="Mail a password-reset link. The answer is the same for unknown emails.",
        extensions=[allow_anyone()],
    )
    async def request_password_reset(
        self, info: Info[Context, None], input: Annotated[RequestPasswordResetInput, INPUT]
    ) -> RequestPasswordResetPayload:
        runtime = info.context.runtime.identity

        async def request(uow: UnitOfWork) -> bool:
            found = await user_service.request_password_reset(
                uow.session, runtime.identity, input.email, _now()
            )
            if found is not None:
                user, token = found
                _send_later(info, uow, mails.reset_password(user.email, token, runtime.public_url))
            return True

        await in_unit_of_work(info, request)
        return RequestPasswordResetPayload(ok=True, errors=[])

    @strawberry.mutation(
        description="Set a new password with the emailed token; every session ends.",
        extensions=[allow_anyone()],
    )
    async def reset_password(
        self, info: Info[Context, None], input: Annotated[ResetPasswordInput, INPUT]
    ) -> ResetPasswordPayload:
        identity = info.context.runtime.identity.identity
        return await _user_change(
            info,
            ResetPasswordPayload,
            lambda uow: user_service.reset_password(
                uow.session, identity, input.token, input.new_password, _now()
            ),
        )


@strawberry.type
class AdminMutations:
    @strawberry.mutation(description="Create a user (ADMIN).", extensions=[allow(*ADMINS)])
    async def create_user(
        self, info: Info[Context, None], input: Annotated[CreateUserInput, INPUT]
    ) -> CreateUserPayload:
        identity = info.context.runtime.identity.identity
        investor_id = key_of(input.investor_id, "Investor") if input.investor_id else None
        if input.investor_id and investor_id is None:
            return CreateUserPayload(user=None, errors=[_not_found("Investor", "investorId")])
        return await _user_change(
            info,
            CreateUserPayload,
            lambda uow: user_service.create_user(
                uow.session, identity, input.email, input.password, input.role, investor_id, _now()
            ),
        )

    @strawberry.mutation(
        description="Change a user's role (ADMIN); their current access tokens stop working.",
        extensions=[allow(*ADMINS)],
    )
    async def set_user_role(
        self, info: Info[Context, None], input: Annotated[SetUserRoleInput, INPUT]
    ) -> SetUserRolePayload:
        investor_id = key_of(input.investor_id, "Investor") if input.investor_id else None
        if input.investor_id and investor_id is None:
            return SetUserRolePayload(user=None, errors=[_not_found("Investor", "investorId")])
        user_id = key_of(input.user_id, USER_TYPE)
        return await _user_change(
            info,
            SetUserRolePayload,
            lambda uow: user_service.set_user_role(
                uow.session, user_id, input.role, investor_id, _now()
            ),
        )

    @strawberry.mutation(
        description="Deactivate a user (ADMIN): refused from the next request on.",
        extensions=[allow(*ADMINS)],
    )
    async def deactivate_user(
        self, info: Info[Context, None], input: Annotated[DeactivateUserInput, INPUT]
    ) -> DeactivateUserPayload:
        user_id = key_of(input.user_id, USER_TYPE)
        return await _user_change(
            info,
            DeactivateUserPayload,
            lambda uow: user_service.deactivate_user(uow.session, user_id, _now()),
        )

    @strawberry.mutation(
        description="Create an API key (ADMIN); the secret is shown once.",
        extensions=[allow(*ADMINS)],
    )
    async def create_api_key(
        self, info: Info[Context, None], input: Annotated[CreateApiKeyInput, INPUT]
    ) -> CreateApiKeyPayload:
        principal = info.context.principal
        creator = principal.id if principal.kind is PrincipalKind.USER else None

        async def create(uow: UnitOfWork) -> tuple[object, str]:
            return await user_service.create_api_key(
                uow.session, input.name, input.role, creator, _now()
            )

        created, errors = await in_unit_of_work(info, create)
        if created is None:
            return CreateApiKeyPayload(api_key=None, secret=None, errors=errors)
        key, secret = created
        return CreateApiKeyPayload(api_key=ApiKey.from_model(key), secret=secret, errors=[])  # type: ignore[arg-type]

    @strawberry.mutation(description="Revoke an API key (ADMIN).", extensions=[allow(*ADMINS)])
    async def revoke_api_key(
        self, info: Info[Context, None], input: Annotated[RevokeApiKeyInput, INPUT]
    ) -> RevokeApiKeyPayload:
        key_id = key_of(input.id, API_KEY_TYPE)
        key, errors = await in_unit_of_work(
            info, lambda uow: user_service.revoke_api_key(uow.session, key_id, _now())
        )
        return RevokeApiKeyPayload(api_key=ApiKey.from_model(key) if key else None, errors=errors)


def _not_found(what: str, field: str) -> UserError:
    return UserError(code=ErrorCode.NOT_FOUND, message=f"{what} not found.", field=["input", field])
