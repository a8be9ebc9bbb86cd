"""Soft delete and restore (issue 7, item 4), through the real app on both back ends.

A deleted fund, investor or investment vanishes from every read path (lookups,
`node`/`nodes`, connections, nested connections, summaries and totals) and comes
back when restored; a restored commitment is reserved again under the hard cap.
What was recorded is read back from the outbox table and through `auditLog`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select

from graphql_api.auth.principal import Role
from graphql_api.db.models import OutboxEvent
from graphql_api.db.session import Database
from tests.conftest import api_key_for
from tests.factories import create_fund, create_investment, create_investor, gid
from tests.graphql import data_of, error_codes, execute

MUTATION = """
mutation Change($input: {input_type}!) {{
  {name}(input: $input) {{ {entity} {{ id }} errors {{ code message field }} }}
}}
"""

FUND_VIEW = """
query FundView($fund: ID!) {
  fund(id: $fund) {
    summary { committedUsd investmentCount investorCount }
    investments { totalCount nodes { id } }
  }
  funds(first: 100) { totalCount nodes { id } }
  node(id: $fund) { id }
}
"""

INVESTOR_VIEW = """
query InvestorView($investor: ID!) {
  investor(id: $investor) {
    totalCommittedUsd
    investments { totalCount nodes { id } }
  }
  investors(first: 100) { totalCount nodes { id } }
  node(id: $investor) { id }
}
"""

INVESTMENT_VIEW = """
query InvestmentView($investment: ID!, $ids: [ID!]!) {
  investment(id: $investment) { id }
  node(id: $investment) { id }
  nodes(ids: $ids) { id }
  investments(first: 100) { totalCount nodes { id } }
}
"""

DELETED_FUNDS = """
query DeletedFunds($deleted: DeletedFilter) {
  funds(first: 100, deleted: $deleted) { totalCount nodes { id } }
}
"""

ENTITY = {"Fund": "fund", "Investor": "investor", "Investment": "investment"}


async def change(
    client: httpx.AsyncClient,
    verb: str,
    kind: str,
    global_id: str,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run `deleteFund` / `restoreInvestment` / ...; the whole response body."""
    name = f"{verb}{kind}"
    document = MUTATION.format(
        name=name, entity=ENTITY[kind], input_type=f"{verb.capitalize()}{kind}Input"
    )
    return await execute(client, document, {"input": {"id": global_id}}, headers=headers)


async def payload(client: httpx.AsyncClient, verb: str, kind: str, global_id: str) -> Any:
    body = await change(client, verb, kind, global_id)
    assert "errors" not in body, body["errors"]
    return body["data"][f"{verb}{kind}"]


async def codes(client: httpx.AsyncClient, verb: str, kind: str, global_id: str) -> list[str]:
    return [error["code"] for error in (await payload(client, verb, kind, global_id))["errors"]]


def ids(connection: dict[str, Any]) -> set[str]:
    return {node["id"] for node in connection["nodes"]}


async def test_deleted_rows_vanish_from_every_path_and_come_back(
    client: httpx.AsyncClient, db: Database
) -> None:
    fund = await create_fund(
        db, target_size_usd=Decimal("5000.00"), hard_cap_usd=Decimal("10000.00")
    )
    alice = await create_investor(db)
    bob = await create_investor(db)
    a1 = await create_investment(db, fund, alice, amount_usd=Decimal("3000.00"))
    b1 = await create_investment(db, fund, bob, amount_usd=Decimal("2000.00"))
    fund_id, alice_id, a1_id, b1_id = gid(fund), gid(alice), gid(a1), gid(b1)

    # Live investments block deleting their fund and investor.
    assert await codes(client, "delete", "Fund", fund_id) == ["HAS_DEPENDENTS"]
    assert await codes(client, "delete", "Investor", alice_id) == ["HAS_DEPENDENTS"]

    # Delete one commitment: it vanishes, and the totals no longer count it.
    deleted = await payload(client, "delete", "Investment", a1_id)
    assert deleted == {"investment": {"id": a1_id}, "errors": []}
    assert await codes(client, "delete", "Investment", a1_id) == ["NOT_FOUND"]
    assert await codes(client, "restore", "Investment", b1_id) == ["NOT_FOUND"]

    view = await data_of(client, INVESTMENT_VIEW, {"investment": a1_id, "ids": [a1_id, b1_id]})
    assert view["investment"] is None
    assert view["node"] is None
    assert view["nodes"] == [None, {"id": b1_id}]
    assert view["investments"]["totalCount"] == 1
    assert ids(view["investments"]) == {b1_id}

    view = await data_of(client, FUND_VIEW, {"fund": fund_id})
    assert view["fund"]["summary"]["committedUsd"] == "2000.00"
    assert view["fund"]["summary"] == {
        "committedUsd": "2000.00",
        "investmentCount": 1,
        "investorCount": 1,
    }
    assert view["fund"]["investments"]["totalCount"] == 1
    assert ids(view["fund"]["investments"]) == {b1_id}

    view = await data_of(client, INVESTOR_VIEW, {"investor": alice_id})
    assert view["investor"]["totalCommittedUsd"] == "0.00"
    assert view["investor"]["investments"] == {"totalCount": 0, "nodes": []}

    # Without live investments, the investor and then the fund can be deleted.
    assert await codes(client, "delete", "Investor", alice_id) == []
    view = await data_of(client, INVESTOR_VIEW, {"investor": alice_id})
    assert view["investor"] is None
    assert view["node"] is None
    assert alice_id not in ids(view["investors"])
    assert view["investors"]["totalCount"] == 1

    assert await codes(client, "delete", "Investment", b1_id) == []
    assert await codes(client, "delete", "Fund", fund_id) == []
    assert await codes(client, "delete", "Fund", fund_id) == ["NOT_FOUND"]
    view = await data_of(client, FUND_VIEW, {"fund": fund_id})
    assert view["fund"] is None
    assert view["node"] is None
    assert view["funds"] == {"totalCount": 0, "nodes": []}

    # A commitment cannot come back before its fund does.
    assert await codes(client, "restore", "Investment", a1_id) == ["NOT_FOUND"]

    # Restore: everything is back, and the amount is reserved again.
    assert await codes(client, "restore", "Fund", fund_id) == []
    assert await codes(client, "restore", "Fund", fund_id) == ["NOT_FOUND"]
    assert await codes(client, "restore", "Investor", alice_id) == []
    assert await codes(client, "restore", "Investment", a1_id) == []
    view = await data_of(client, FUND_VIEW, {"fund": fund_id})
    assert view["fund"]["summary"]["committedUsd"] == "3000.00"
    assert view["fund"]["summary"]["investmentCount"] == 1
    assert ids(view["fund"]["investments"]) == {a1_id}
    assert view["node"] == {"id": fund_id}
    view = await data_of(client, INVESTOR_VIEW, {"investor": alice_id})
    assert view["investor"]["totalCommittedUsd"] == "3000.00"
    assert ids(view["investor"]["investments"]) == {a1_id}


async def test_restore_rechecks_the_hard_cap(client: httpx.AsyncClient, db: Database) -> None:
    fund = await create_fund(
        db, target_size_usd=Decimal("5000.00"), hard_cap_usd=Decimal("10000.00")
    )
    investor = await create_investor(db)
    first = await create_investment(db, fund, investor, amount_usd=Decimal("4000.00"))
    assert await codes(client, "delete", "Investment", gid(first)) == []
    # The released room is taken by a new commitment: the old one no longer fits.
    await create_investment(db, fund, investor, amount_usd=Decimal("8000.00"))
    [error] = (await payload(client, "restore", "Investment", gid(first)))["errors"]
    assert (error["code"], error["field"]) == ("HARD_CAP_EXCEEDED", ["input", "id"])
    view = await data_of(client, FUND_VIEW, {"fund": gid(fund)})
    assert view["fund"]["summary"]["committedUsd"] == "8000.00"
    assert view["fund"]["investments"]["totalCount"] == 1


async def test_only_admin_and_manager_delete(client: httpx.AsyncClient, db: Database) -> None:
    fund = await create_fund(db)
    investor = await create_investor(db)
    investment = await create_investment(db, fund, investor)
    for role in (Role.ANALYST, Role.INVESTOR):
        headers = {"X-API-Key": await api_key_for(db, role)}
        for kind, record in (("Fund", fund), ("Investor", investor), ("Investment", investment)):
            for verb in ("delete", "restore"):
                body = await change(client, verb, kind, gid(record), headers)
                assert error_codes(body) == ["FORBIDDEN"], (role, verb, kind, body)
    manager = {"X-API-Key": await api_key_for(db, Role.MANAGER)}
    body = await change(client, "delete", "Investment", gid(investment), manager)
    assert body["data"]["deleteInvestment"]["errors"] == []
    body = await change(client, "delete", "Fund", gid(fund), manager)
    assert body["data"]["deleteFund"]["errors"] == []


async def test_admin_lists_deleted_rows_manager_cannot(
    client: httpx.AsyncClient, db: Database
) -> None:
    live = await create_fund(db)
    gone = await create_fund(db)
    assert await codes(client, "delete", "Fund", gid(gone)) == []

    listed = {
        mode: ids((await data_of(client, DELETED_FUNDS, {"deleted": mode}))["funds"])
        for mode in ("LIVE", "DELETED", "ALL")
    }
    assert listed == {
        "LIVE": {gid(live)},
        "DELETED": {gid(gone)},
        "ALL": {gid(live), gid(gone)},
    }
    deleted_investors = await data_of(
        client,
        "{ investors(deleted: DELETED) { totalCount } investments(deleted: ALL) { totalCount } }",
    )
    assert deleted_investors == {"investors": {"totalCount": 0}, "investments": {"totalCount": 0}}

    manager = {"X-API-Key": await api_key_for(db, Role.MANAGER)}
    for mode in ("DELETED", "ALL"):
        body = await execute(client, DELETED_FUNDS, {"deleted": mode}, headers=manager)
        assert error_codes(body) == ["FORBIDDEN"]
    body = await execute(client, DELETED_FUNDS, {"deleted": "LIVE"}, headers=manager)
    assert "errors" not in body
    assert ids(body["data"]["funds"]) == {gid(live)}


AUDIT = """
query Audit($filter: AuditFilter) {
  auditLog(filter: $filter, first: 100) { nodes { action entityType entityId before after } }
}
"""


async def test_deletes_and_restores_are_evented_and_audited(
    client: httpx.AsyncClient, db: Database
) -> None:
    fund = await create_fund(db)
    investor = await create_investor(db)
    investment = await create_investment(db, fund, investor, amount_usd=Decimal("1500.00"))
    for verb, kind, record in (
        ("delete", "Investment", investment),
        ("delete", "Fund", fund),
        ("restore", "Fund", fund),
        ("restore", "Investment", investment),
        ("delete", "Investment", investment),
        ("delete", "Investor", investor),
        ("restore", "Investor", investor),
    ):
        assert await codes(client, verb, kind, gid(record)) == [], (verb, kind)

    async with db.read_session() as session:
        rows = await session.execute(
            select(OutboxEvent.event_type, OutboxEvent.investment_id, OutboxEvent.payload)
            .where(OutboxEvent.fund_id == fund.id)
            .order_by(OutboxEvent.id)
        )
        events = [(row.event_type, row.investment_id) for row in rows]
    assert [
        event for event in events if event[0] not in {"FUND_CREATED", "INVESTMENT_CREATED"}
    ] == [
        ("INVESTMENT_DELETED", investment.id),
        ("FUND_DELETED", None),
        ("FUND_RESTORED", None),
        ("INVESTMENT_RESTORED", investment.id),
        ("INVESTMENT_DELETED", investment.id),
    ]
    # An investor's delete and restore are events about the investor alone.
    async with db.read_session() as session:
        rows = await session.execute(
            select(OutboxEvent.event_type, OutboxEvent.fund_id, OutboxEvent.payload)
            .where(OutboxEvent.investor_id == investor.id, OutboxEvent.investment_id.is_(None))
            .order_by(OutboxEvent.id)
        )
        investor_events = [(row.event_type, row.fund_id, row.payload) for row in rows]
    assert [(kind, fund_id) for kind, fund_id, _ in investor_events] == [
        ("INVESTOR_DELETED", None),
        ("INVESTOR_RESTORED", None),
    ]
    assert all(payload["changedFields"] == ["deletedAt"] for _, _, payload in investor_events)

    expected = {
        "Fund": ["deleteFund", "restoreFund"],
        "Investor": ["deleteInvestor", "restoreInvestor"],
        "Investment": ["deleteInvestment", "restoreInvestment", "deleteInvestment"],
    }
    for kind, record in (("Fund", fund), ("Investor", investor), ("Investment", investment)):
        log = await data_of(client, AUDIT, {"filter": {"entityId": gid(record)}})
        entries = log["auditLog"]["nodes"]
        marked = sorted(
            entry["action"] for entry in entries if "deleted_at" in (entry["after"] or {})
        )
        assert marked == sorted(expected[kind]), (kind, entries)
    # The fund's committed total moved with each delete and restore of the commitment.
    log = await data_of(client, AUDIT, {"filter": {"entityId": gid(fund)}})
    totals = [
        (entry["action"], entry["after"]["committed_usd"])
        for entry in log["auditLog"]["nodes"]
        if "committed_usd" in (entry["after"] or {})
        and entry["action"] in {"deleteInvestment", "restoreInvestment"}
    ]
    assert sorted(totals) == sorted(
        [
            ("deleteInvestment", "0.00"),
            ("restoreInvestment", "1500.00"),
            ("deleteInvestment", "0.00"),
        ]
    ), log


EMAIL_CHANGES = """
mutation Emails($create: CreateInvestorInput!, $update: UpdateInvestorInput!) {
  createInvestor(input: $create) { investor { id } errors { code message field } }
  updateInvestor(input: $update) { investor { email } errors { code message field } }
}
"""


async def test_a_deleted_investor_keeps_its_email_until_restored(
    client: httpx.AsyncClient, db: Database
) -> None:
    departed = await create_investor(db, email="departed@example.com")
    other = await create_investor(db)
    assert await codes(client, "delete", "Investor", gid(departed)) == []

    variables = {
        "create": {
            "name": "Newcomer",
            "investorType": "INDIVIDUAL",
            "email": "Departed@Example.com",
        },
        "update": {"id": gid(other), "email": "DEPARTED@example.com"},
    }
    data = await data_of(client, EMAIL_CHANGES, variables)

    for field in ("createInvestor", "updateInvestor"):
        [error] = data[field]["errors"]
        assert error["code"] == "DUPLICATE_EMAIL", data
        assert "deleted investor" in error["message"]
        assert "restore" in error["message"]
    assert data["createInvestor"]["investor"] is None
    # Restoring gives the investor back with its email; nobody else took it meanwhile.
    assert await codes(client, "restore", "Investor", gid(departed)) == []
    view = await data_of(client, INVESTOR_VIEW, {"investor": gid(departed)})
    assert view["investors"]["totalCount"] == 2
    data = await data_of(client, EMAIL_CHANGES, variables)
    assert [e["message"] for e in data["createInvestor"]["errors"]] == [
        "An investor with email departed@example.com already exists."
    ]
