"""The authorization matrix: every root operation, as every role and as anonymous (SPEC §4).

MATRIX is the table of record. The schema is read and compared with it, so an
operation added without a row here fails the suite; the permissions each field
declares must say the same as the table. Then every operation runs through the
real app as each caller: queries and mutations over HTTP, subscriptions over a
WebSocket (ASGI, the same view uvicorn serves). Allowed means no top-level error
at all (user errors in a payload are fine); refused means exactly FORBIDDEN
(authenticated) or UNAUTHENTICATED (anonymous), no data, and not one row of the
database changed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import graphql
import pytest

from graphql_api.auth.principal import Role
from graphql_api.db.models import Fund, Investment, Investor
from graphql_api.db.session import Database
from graphql_api.schema.build import build_schema
from graphql_api.schema.ids import to_global_id
from graphql_api.schema.permissions import declared_roles
from graphql_api.users import service as user_service
from tests.authorization.asgi_ws import AsgiWebSocket, Closed
from tests.authorization.support import (
    NEW_PASSWORD,
    PASSWORD,
    access_token,
    bearer,
    changed_tables,
    create_user,
    http_client,
    snapshot,
    unique_email,
    user_gid,
)
from tests.conftest import api_key_for
from tests.factories import create_fund, create_investment, create_investor, gid
from tests.graphql import execute
from tests.subscriptions.conftest import polls


@dataclass(frozen=True, slots=True)
class Rule:
    """Who may call an operation: these roles, anonymous too or not, API keys too or not."""

    roles: frozenset[Role]
    anonymous: bool = False
    users_only: bool = False


EVERY_ROLE = frozenset(Role)
READ = Rule(EVERY_ROLE)
WRITE = Rule(frozenset({Role.ADMIN, Role.MANAGER}))
ADMIN_ONLY = Rule(frozenset({Role.ADMIN}))
PUBLIC = Rule(EVERY_ROLE, anonymous=True)
OWN_ACCOUNT = Rule(EVERY_ROLE, users_only=True)  # an API key has no password to change

MATRIX: dict[str, dict[str, Rule]] = {
    "Query": {
        "node": READ,
        "nodes": READ,
        "fund": READ,
        "funds": READ,
        "investor": READ,
        "investors": READ,
        "investment": READ,
        "investments": READ,
        "me": READ,
        "auditLog": ADMIN_ONLY,
    },
    "Mutation": {
        "createFund": WRITE,
        "updateFund": WRITE,
        "createInvestor": WRITE,
        "updateInvestor": WRITE,
        "createInvestment": WRITE,
        "createInvestments": WRITE,
        "deleteFund": WRITE,
        "restoreFund": WRITE,
        "deleteInvestor": WRITE,
        "restoreInvestor": WRITE,
        "deleteInvestment": WRITE,
        "restoreInvestment": WRITE,
        "login": PUBLIC,
        "refreshToken": PUBLIC,
        "logout": PUBLIC,
        "changePassword": OWN_ACCOUNT,
        "register": PUBLIC,
        "verifyEmail": PUBLIC,
        "requestPasswordReset": PUBLIC,
        "resetPassword": PUBLIC,
        "createUser": ADMIN_ONLY,
        "setUserRole": ADMIN_ONLY,
        "deactivateUser": ADMIN_ONLY,
        "createApiKey": ADMIN_ONLY,
        "revokeApiKey": ADMIN_ONLY,
    },
    "Subscription": {
        "fundEvents": READ,
        "investmentCreated": READ,
    },
}

# Fields below the root that carry a permission of their own.
NESTED_MATRIX: dict[str, Rule] = {
    "Fund.history": WRITE,
}

ROOT_TYPES = tuple(MATRIX)


@dataclass
class World:
    """The records every operation works on, and one credential per caller."""

    fund: Fund
    investor_a: Investor
    investor_b: Investor
    investment_a: Investment
    login_email: str
    target_user_id: str
    target_key_id: str
    http_headers: dict[str, dict[str, str]] = field(default_factory=dict)
    init_payloads: dict[str, dict[str, str]] = field(default_factory=dict)


Variables = Callable[[World], dict[str, Any]]

# One minimal, valid operation per root field: what it would change, were it let through.
DOCUMENTS: dict[str, str] = {
    "Query.node": "query Node($id: ID!) { node(id: $id) { id } }",
    "Query.nodes": "query Nodes($ids: [ID!]!) { nodes(ids: $ids) { id } }",
    "Query.fund": "query OneFund($id: ID!) { fund(id: $id) { id name } }",
    "Query.funds": "query Funds { funds { totalCount nodes { id } } }",
    "Query.investor": "query OneInvestor($id: ID!) { investor(id: $id) { id name } }",
    "Query.investors": "query Investors { investors { totalCount nodes { id } } }",
    "Query.investment": "query OneInvestment($id: ID!) { investment(id: $id) { id amountUsd } }",
    "Query.investments": "query Investments { investments { totalCount nodes { id } } }",
    "Query.me": "query Me { me { id role } }",
    "Query.auditLog": "query AuditLog { auditLog(first: 5) { totalCount nodes { action } } }",
    "Mutation.createFund": """
        mutation CreateFund($input: CreateFundInput!) {
          createFund(input: $input) { fund { id } errors { code } }
        }""",
    "Mutation.updateFund": """
        mutation UpdateFund($input: UpdateFundInput!) {
          updateFund(input: $input) { fund { id name } errors { code } }
        }""",
    "Mutation.createInvestor": """
        mutation CreateInvestor($input: CreateInvestorInput!) {
          createInvestor(input: $input) { investor { id } errors { code } }
        }""",
    "Mutation.updateInvestor": """
        mutation UpdateInvestor($input: UpdateInvestorInput!) {
          updateInvestor(input: $input) { investor { id name } errors { code } }
        }""",
    "Mutation.createInvestment": """
        mutation CreateInvestment($input: CreateInvestmentInput!) {
          createInvestment(input: $input) { investment { id } errors { code } }
        }""",
    "Mutation.createInvestments": """
        mutation CreateInvestments($inputs: [CreateInvestmentInput!]!) {
          createInvestments(inputs: $inputs) { investments { id } errors { code } }
        }""",
    "Mutation.deleteFund": """
        mutation DeleteFund($input: DeleteFundInput!) {
          deleteFund(input: $input) { fund { id } errors { code } }
        }""",
    "Mutation.restoreFund": """
        mutation RestoreFund($input: RestoreFundInput!) {
          restoreFund(input: $input) { fund { id } errors { code } }
        }""",
    "Mutation.deleteInvestor": """
        mutation DeleteInvestor($input: DeleteInvestorInput!) {
          deleteInvestor(input: $input) { investor { id } errors { code } }
        }""",
    "Mutation.restoreInvestor": """
        mutation RestoreInvestor($input: RestoreInvestorInput!) {
          restoreInvestor(input: $input) { investor { id } errors { code } }
        }""",
    "Mutation.deleteInvestment": """
        mutation DeleteInvestment($input: DeleteInvestmentInput!) {
          deleteInvestment(input: $input) { investment { id } errors { code } }
        }""",
    "Mutation.restoreInvestment": """
        mutation RestoreInvestment($input: RestoreInvestmentInput!) {
          restoreInvestment(input: $input) { investment { id } errors { code } }
        }""",
    "Mutation.login": """
        mutation Login($email: String!, $password: String!) {
          login(email: $email, password: $password) { accessToken errors { code } }
        }""",
    "Mutation.refreshToken": """
        mutation Refresh($token: String!) {
          refreshToken(refreshToken: $token) { accessToken errors { code } }
        }""",
    "Mutation.logout": """
        mutation Logout($input: LogoutInput!) { logout(input: $input) { ok errors { code } } }""",
    "Mutation.changePassword": """
        mutation ChangePassword($input: ChangePasswordInput!) {
          changePassword(input: $input) { accessToken errors { code } }
        }""",
    "Mutation.register": """
        mutation Register($input: RegisterInput!) {
          register(input: $input) { ok errors { code } }
        }""",
    "Mutation.verifyEmail": """
        mutation VerifyEmail($input: VerifyEmailInput!) {
          verifyEmail(input: $input) { user { id } errors { code } }
        }""",
    "Mutation.requestPasswordReset": """
        mutation RequestReset($input: RequestPasswordResetInput!) {
          requestPasswordReset(input: $input) { ok errors { code } }
        }""",
    "Mutation.resetPassword": """
        mutation ResetPassword($input: ResetPasswordInput!) {
          resetPassword(input: $input) { user { id } errors { code } }
        }""",
    "Mutation.createUser": """
        mutation CreateUser($input: CreateUserInput!) {
          createUser(input: $input) { user { id } errors { code } }
        }""",
    "Mutation.setUserRole": """
        mutation SetUserRole($input: SetUserRoleInput!) {
          setUserRole(input: $input) { user { id role } errors { code } }
        }""",
    "Mutation.deactivateUser": """
        mutation DeactivateUser($input: DeactivateUserInput!) {
          deactivateUser(input: $input) { user { id isActive } errors { code } }
        }""",
    "Mutation.createApiKey": """
        mutation CreateApiKey($input: CreateApiKeyInput!) {
          createApiKey(input: $input) { secret errors { code } }
        }""",
    "Mutation.revokeApiKey": """
        mutation RevokeApiKey($input: RevokeApiKeyInput!) {
          revokeApiKey(input: $input) { apiKey { id revokedAt } errors { code } }
        }""",
    "Subscription.fundEvents": """
        subscription FundEvents($fundId: ID) { fundEvents(fundId: $fundId) { eventId } }""",
    "Subscription.investmentCreated": """
        subscription InvestmentCreated($fundId: ID) {
          investmentCreated(fundId: $fundId) { eventId }
        }""",
}

TYPENAME = "query Typename { __typename }"

VARIABLES: dict[str, Variables] = {
    "Query.node": lambda w: {"id": gid(w.investor_a)},
    "Query.nodes": lambda w: {"ids": [gid(w.fund), gid(w.investor_a), gid(w.investment_a)]},
    "Query.fund": lambda w: {"id": gid(w.fund)},
    "Query.investor": lambda w: {"id": gid(w.investor_a)},
    "Query.investment": lambda w: {"id": gid(w.investment_a)},
    "Mutation.createFund": lambda _: {
        "input": {"name": "Matrix fund", "vintageYear": 2021, "targetSizeUsd": "5000000.00"}
    },
    "Mutation.updateFund": lambda w: {"input": {"id": gid(w.fund), "name": "Renamed fund"}},
    "Mutation.createInvestor": lambda _: {
        "input": {
            "name": "Matrix investor",
            "investorType": "INDIVIDUAL",
            "email": unique_email("matrix"),
        }
    },
    "Mutation.updateInvestor": lambda w: {
        "input": {"id": gid(w.investor_a), "name": "Renamed investor"}
    },
    "Mutation.createInvestment": lambda w: {
        "input": {
            "fundId": gid(w.fund),
            "investorId": gid(w.investor_a),
            "amountUsd": "250.00",
            "investmentDate": "2024-02-01",
        }
    },
    "Mutation.createInvestments": lambda w: {
        "inputs": [
            {
                "fundId": gid(w.fund),
                "investorId": gid(investor),
                "amountUsd": "125.00",
                "investmentDate": "2024-02-01",
            }
            for investor in (w.investor_a, w.investor_b)
        ]
    },
    "Mutation.deleteFund": lambda w: {"input": {"id": gid(w.fund)}},
    "Mutation.restoreFund": lambda w: {"input": {"id": gid(w.fund)}},
    "Mutation.deleteInvestor": lambda w: {"input": {"id": gid(w.investor_a)}},
    "Mutation.restoreInvestor": lambda w: {"input": {"id": gid(w.investor_a)}},
    "Mutation.deleteInvestment": lambda w: {"input": {"id": gid(w.investment_a)}},
    "Mutation.restoreInvestment": lambda w: {"input": {"id": gid(w.investment_a)}},
    "Mutation.login": lambda w: {"email": w.login_email, "password": PASSWORD},
    "Mutation.refreshToken": lambda _: {"token": "not-a-refresh-token"},
    "Mutation.logout": lambda _: {"input": {"refreshToken": "not-a-refresh-token"}},
    "Mutation.changePassword": lambda _: {
        "input": {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    },
    "Mutation.register": lambda _: {
        "input": {"email": unique_email("register"), "password": PASSWORD}
    },
    "Mutation.verifyEmail": lambda _: {"input": {"token": "not-an-emailed-token"}},
    "Mutation.requestPasswordReset": lambda w: {"input": {"email": w.login_email}},
    "Mutation.resetPassword": lambda _: {
        "input": {"token": "not-an-emailed-token", "newPassword": NEW_PASSWORD}
    },
    "Mutation.createUser": lambda _: {
        "input": {"email": unique_email("created"), "password": PASSWORD, "role": "ANALYST"}
    },
    "Mutation.setUserRole": lambda w: {"input": {"userId": w.target_user_id, "role": "MANAGER"}},
    "Mutation.deactivateUser": lambda w: {"input": {"userId": w.target_user_id}},
    "Mutation.createApiKey": lambda _: {"input": {"name": "matrix key", "role": "ADMIN"}},
    "Mutation.revokeApiKey": lambda w: {"input": {"id": w.target_key_id}},
    "Subscription.fundEvents": lambda w: {"fundId": gid(w.fund)},
    "Subscription.investmentCreated": lambda w: {"fundId": gid(w.fund)},
}


@dataclass(frozen=True, slots=True)
class Caller:
    name: str
    role: Role | None  # None: anonymous
    api_key: bool = False
    linked: bool = True


CALLERS = (
    Caller("ADMIN key", Role.ADMIN, api_key=True),
    Caller("MANAGER key", Role.MANAGER, api_key=True),
    Caller("ANALYST key", Role.ANALYST, api_key=True),
    Caller("ADMIN user", Role.ADMIN),
    Caller("INVESTOR user", Role.INVESTOR),
    Caller("unlinked INVESTOR user", Role.INVESTOR, linked=False),
    Caller("anonymous", None),
)


def expected_outcome(rule: Rule, caller: Caller) -> str:
    if caller.role is None:
        return "allowed" if rule.anonymous else "UNAUTHENTICATED"
    if rule.anonymous:
        return "allowed"
    if caller.role not in rule.roles or (rule.users_only and caller.api_key):
        return "FORBIDDEN"
    return "allowed"


def root_fields(kind: str) -> list[str]:
    return [f"{kind}.{name}" for name in MATRIX[kind]]


def rule_of(operation: str) -> Rule:
    kind, name = operation.split(".")
    return MATRIX[kind][name]


def parsed_schema() -> graphql.GraphQLSchema:
    return graphql.build_schema(build_schema().as_str())


async def build_world(app: Any, db: Database) -> World:
    fund = await create_fund(db)
    investor_a = await create_investor(db)
    investor_b = await create_investor(db)
    investment_a = await create_investment(db, fund, investor_a)
    await create_investment(db, fund, investor_b)
    login_user = await create_user(app, db, Role.ANALYST)
    target_user = await create_user(app, db, Role.ANALYST)
    target_key = await api_key_for(db, Role.ANALYST)
    async with db.read_session() as session:
        principal, _ = await user_service.principal_for_api_key(
            session, target_key, datetime.now(UTC)
        )
    assert principal.id is not None
    world = World(
        fund=fund,
        investor_a=investor_a,
        investor_b=investor_b,
        investment_a=investment_a,
        login_email=login_user.email,
        target_user_id=user_gid(target_user),
        target_key_id=to_global_id("ApiKey", principal.id),
    )
    for caller in CALLERS:
        headers, payload = await _credentials(app, db, caller, investor_a.id)
        world.http_headers[caller.name] = headers
        world.init_payloads[caller.name] = payload
    return world


async def _credentials(
    app: Any, db: Database, caller: Caller, investor_id: uuid.UUID
) -> tuple[dict[str, str], dict[str, str]]:
    """HTTP headers and a connection_init payload for one caller."""
    if caller.role is None:
        return {}, {}
    if caller.api_key:
        key = await api_key_for(db, caller.role)
        return {"X-API-Key": key}, {"x-api-key": key}
    linked = investor_id if caller.role is Role.INVESTOR and caller.linked else None
    user = await create_user(app, db, caller.role, linked)
    token = access_token(app, user)
    return bearer(token), {"authorization": f"Bearer {token}"}


def http_outcome(body: dict[str, Any], field_name: str, changed: list[str]) -> str:
    """The outcome as the table words it: "allowed", or the error codes (a refusal
    that still answered, or still wrote to the database, says so)."""
    codes = sorted({str((e.get("extensions") or {}).get("code")) for e in body.get("errors", [])})
    if not codes:
        return "allowed"
    outcome = "/".join(codes)
    if (body.get("data") or {}).get(field_name) is not None:
        outcome += " (but answered)"
    if changed:
        outcome += f" (but changed {', '.join(changed)})"
    return outcome


class TestTheMatrixCoversTheSchema:
    def test_every_root_field_has_a_row_and_every_row_a_field(self) -> None:
        # given
        schema = parsed_schema()
        # when
        in_schema = {
            kind: set(schema.get_type(kind).fields)  # type: ignore[union-attr]
            for kind in ROOT_TYPES
        }
        in_matrix = {kind: set(rows) for kind, rows in MATRIX.items()}
        # then
        assert in_schema == in_matrix

    def test_every_guarded_field_below_the_root_has_a_row(self) -> None:
        # given
        schema = build_schema()
        names = schema.config.name_converter
        guarded: dict[str, frozenset[Role] | None] = {}
        # when
        for type_name in parsed_schema().type_map:
            definition = schema.get_type_by_name(type_name)
            if type_name in ROOT_TYPES or not hasattr(definition, "fields"):
                continue
            for strawberry_field in definition.fields:  # type: ignore[union-attr]
                roles = declared_roles(strawberry_field.extensions)
                if roles != "undeclared":
                    guarded[f"{type_name}.{names.get_graphql_name(strawberry_field)}"] = roles  # type: ignore[assignment]
        # then
        assert guarded == {name: rule.roles for name, rule in NESTED_MATRIX.items()}

    def test_each_root_field_declares_the_roles_of_its_row(self) -> None:
        # given
        schema = build_schema()
        names = schema.config.name_converter
        declared: dict[str, object] = {}
        # when
        for kind in ROOT_TYPES:
            for strawberry_field in schema.get_type_by_name(kind).fields:  # type: ignore[union-attr]
                name = names.get_graphql_name(strawberry_field)
                declared[f"{kind}.{name}"] = declared_roles(strawberry_field.extensions)
        # then: allow_anyone() declares None, allow(...) its roles
        expected = {
            f"{kind}.{name}": None if rule.anonymous else rule.roles
            for kind, rows in MATRIX.items()
            for name, rule in rows.items()
        }
        assert declared == expected

    def test_every_row_has_an_operation_that_validates_against_the_schema(self) -> None:
        # given
        schema = parsed_schema()
        operations = [f"{kind}.{name}" for kind, rows in MATRIX.items() for name in rows]
        # when
        problems = {
            operation: [str(e) for e in graphql.validate(schema, graphql.parse(document))]
            for operation in operations
            if (document := DOCUMENTS.get(operation)) is not None
        }
        # then
        assert sorted(DOCUMENTS) == sorted(operations)
        assert all(name in DOCUMENTS for name in VARIABLES)
        assert {name: errors for name, errors in problems.items() if errors} == {}


class TestQueriesAndMutationsOverHttp:
    @pytest.mark.parametrize("operation", root_fields("Query") + root_fields("Mutation"))
    async def test_each_caller_is_allowed_or_refused_as_the_matrix_says(
        self, app: Any, db: Database, operation: str
    ) -> None:
        # given
        world = await build_world(app, db)
        rule = rule_of(operation)
        field_name = operation.split(".")[1]
        outcomes: dict[str, str] = {}
        # when
        for caller in CALLERS:
            variables = VARIABLES[operation](world) if operation in VARIABLES else {}
            async with http_client(app, world.http_headers[caller.name]) as client:
                await execute(client, TYPENAME)  # the credential's first-use bookkeeping
                before = await snapshot(app, db)
                body = await execute(client, DOCUMENTS[operation], variables)
                changed = changed_tables(before, await snapshot(app, db))
            outcomes[caller.name] = http_outcome(body, field_name, changed)
        # then
        assert outcomes == {caller.name: expected_outcome(rule, caller) for caller in CALLERS}

    async def test_the_no_change_check_sees_a_change_made_by_an_allowed_caller(
        self, app: Any, db: Database
    ) -> None:
        # given
        world = await build_world(app, db)
        operation = "Mutation.updateInvestor"
        async with http_client(app, world.http_headers["MANAGER key"]) as client:
            await execute(client, TYPENAME)
            before = await snapshot(app, db)
            # when
            body = await execute(client, DOCUMENTS[operation], VARIABLES[operation](world))
            changed = changed_tables(before, await snapshot(app, db))
        # then: the investor, its audit entry (and nothing about the caller) changed
        assert body["data"]["updateInvestor"]["errors"] == []
        assert "investors" in changed
        assert "audit_log" in changed
        assert "api_keys" not in changed


async def _subscription_outcome(app: Any, ws: AsgiWebSocket, operation: str, world: World) -> str:
    """Subscribe, and tell whether the feed started (allowed) or an error came back."""
    hub = app.state.runtime.events.hub
    before = hub.subscriber_count
    payload = {"query": DOCUMENTS[operation], "variables": VARIABLES[operation](world)}
    await ws.send({"id": "matrix", "type": "subscribe", "payload": payload})
    for _ in polls(5.0):
        if hub.subscriber_count > before:
            await ws.send({"id": "matrix", "type": "complete"})
            return "allowed"
        message = ws.receive_nowait()
        if isinstance(message, Closed):
            return f"closed {message.code}"
        if message is not None:
            errors = message.get("payload")
            if isinstance(errors, dict):
                errors = errors.get("errors", [])
            codes = sorted({str((e.get("extensions") or {}).get("code")) for e in errors or []})
            return "/".join(codes) or f"unexpected {message}"
        await asyncio.sleep(0.01)
    raise AssertionError(f"{operation}: neither a feed nor an error within 5s")


async def _no_subscriber_left(app: Any, within: float = 5.0) -> None:
    hub = app.state.runtime.events.hub
    for _ in polls(within):
        if hub.subscriber_count == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{hub.subscriber_count} subscribers left after {within}s")


class TestSubscriptionsOverWebSocket:
    """Anonymous callers are refused at connection_init (4403) before any field runs:
    for them, that close is the UNAUTHENTICATED of the table."""

    @pytest.mark.parametrize("operation", root_fields("Subscription"))
    async def test_each_caller_is_allowed_or_refused_as_the_matrix_says(
        self, app: Any, db: Database, operation: str
    ) -> None:
        # given
        world = await build_world(app, db)
        rule = rule_of(operation)
        outcomes: dict[str, str] = {}
        # when
        for caller in CALLERS:
            async with AsgiWebSocket(app) as ws:
                answer = await ws.init(world.init_payloads[caller.name])
                if isinstance(answer, Closed):
                    refused = answer.code == 4403
                    outcomes[caller.name] = "UNAUTHENTICATED" if refused else f"closed {answer}"
                    continue
                assert answer["type"] == "connection_ack", answer
                outcomes[caller.name] = await _subscription_outcome(app, ws, operation, world)
            await _no_subscriber_left(app)
        # then
        assert outcomes == {caller.name: expected_outcome(rule, caller) for caller in CALLERS}


class TestAnonymousCallers:
    async def test_may_ask_for_the_typename_without_credentials(
        self, anonymous_client: Any
    ) -> None:
        # when
        body = await execute(anonymous_client, TYPENAME)
        # then
        assert "errors" not in body
        assert body["data"] == {"__typename": "Query"}

    async def test_a_wrong_credential_is_refused_not_taken_for_anonymous(
        self, app: Any, db: Database
    ) -> None:
        # given: a public operation, sent with credentials that are not valid
        login = DOCUMENTS["Mutation.login"]
        variables = {"email": "nobody@example.com", "password": PASSWORD}
        wrong = ({"Authorization": "Bearer not.a.token"}, {"X-API-Key": "gak_not_a_key"})
        # when
        statuses = []
        for headers in wrong:
            async with http_client(app, headers) as client:
                response = await client.post(
                    "/graphql", json={"query": login, "variables": variables}
                )
            statuses.append((response.status_code, response.json()["errors"][0]["extensions"]))
        # then
        assert statuses == [(401, {"code": "UNAUTHENTICATED"})] * 2
