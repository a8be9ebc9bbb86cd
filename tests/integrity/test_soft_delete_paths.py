"""Soft delete, path by path: a deleted fund, investor or investment is absent from every
read path of the schema, for every role, and back once restored.

The world: funds F (capped) and G; investors alice (INSTITUTION), bob (FAMILY_OFFICE) and
carol (INDIVIDUAL); commitments a1, b1 (bob's, the largest), c1 to F and g1 (alice's) to G.
Each kind deletes one record, after the commitments that would block it: b1; c1 then
carol; g1 then G. Each path is read live, deleted and restored, and expects different
values in the two states, so each assertion can fail. Responses name records (`"F"`).
Then: `deleted: LIVE | DELETED | ALL` on the root connections (ADMIN only), and what keeps
a response beyond a delete: document caches, APQ in Redis, trusted documents, the results
stored for idempotency keys, HTTP caches.
Not here: subscriptions and the outbox (tests/events); the audit log keeps the history
of deleted records on purpose.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path as FilePath
from typing import Any

import httpx
import pytest
import redis.asyncio as redis

from graphql_api.auth.principal import Role
from graphql_api.db.models import InvestorType
from graphql_api.db.session import Database
from graphql_api.schema.persisted import sha256
from tests.authorization.support import access_token, bearer, create_user, http_client
from tests.conftest import api_key_for, make_settings
from tests.factories import create_fund, create_investment, create_investor, gid
from tests.graphql import PREFLIGHT, data_of, error_codes, execute
from tests.identity.support import running_app

Records = dict[str, Any]

DELETE = {
    "investment": [("Investment", "b1")],
    "investor": [("Investment", "c1"), ("Investor", "carol")],
    "fund": [("Investment", "g1"), ("Fund", "G")],
}
CHANGE = "mutation($input: {verb}{kind}Input!) {{ {name}(input: $input) {{ errors {{ code }} }} }}"
CONN = "totalCount nodes { id }"
INVESTORS = {
    "alice": ("Alice Capital", InvestorType.INSTITUTION),
    "bob": ("Bob Family Office", InvestorType.FAMILY_OFFICE),
    "carol": ("Carol Zimmer", InvestorType.INDIVIDUAL),
}


async def build_world(db: Database) -> Records:
    usd = Decimal
    f = await create_fund(
        db, name="Alpha Fund I", target_size_usd=usd(5000), hard_cap_usd=usd(10000)
    )
    g = await create_fund(db, name="Zeta Growth Fund", vintage_year=2021, target_size_usd=usd(8000))
    people = {
        name: await create_investor(db, name=full, investor_type=kind, email=f"{name}@example.com")
        for name, (full, kind) in INVESTORS.items()
    }
    a1 = await create_investment(db, f, people["alice"], amount_usd=usd("1000.00"))
    b1 = await create_investment(
        db, f, people["bob"], amount_usd=usd("2500.00"), investment_date=date(2024, 3, 1)
    )
    c1 = await create_investment(db, f, people["carol"], amount_usd=usd("700.00"))
    g1 = await create_investment(db, g, people["alice"], amount_usd=usd("400.00"))
    return {"F": f, "G": g, **people, "a1": a1, "b1": b1, "c1": c1, "g1": g1}


def swap(value: Any, table: dict[str, str]) -> Any:
    """`value` with every string found in `table` replaced (names <-> global IDs)."""
    if isinstance(value, dict):
        return {key: swap(item, table) for key, item in value.items()}
    if isinstance(value, list):
        return [swap(item, table) for item in value]
    return table.get(value, value) if isinstance(value, str) else value


def outcome(body: dict[str, Any], records: Records) -> Any:
    """A response's data, or its errors (never its extensions), records named."""
    names = {gid(record): name for name, record in records.items()}
    return swap({"errors": body["errors"]} if "errors" in body else body["data"], names)


async def change(client: httpx.AsyncClient, verb: str, type_name: str, global_id: str) -> None:
    """`deleteFund`, `restoreInvestment`, ... as ADMIN; it must succeed."""
    field = f"{verb}{type_name}"
    query = CHANGE.format(verb=verb.capitalize(), kind=type_name, name=field)
    body = await execute(client, query, {"input": {"id": global_id}})
    assert body.get("data", {}).get(field) == {"errors": []}, (field, body)


async def apply(client: httpx.AsyncClient, verb: str, kind: str, records: Records) -> None:
    """Delete what `kind` deletes, in order; or restore it, in reverse order."""
    steps = DELETE[kind] if verb == "delete" else list(reversed(DELETE[kind]))
    for type_name, name in steps:
        await change(client, verb, type_name, gid(records[name]))


@asynccontextmanager
async def caller(
    app: Any, db: Database, admin: httpx.AsyncClient, role: str, records: Records
) -> AsyncIterator[httpx.AsyncClient]:
    """ADMIN (`client`), ANALYST or MANAGER (API keys), or `INVESTOR:<investor>` (a user)."""
    if role == "ADMIN":
        yield admin
        return
    if role.startswith("INVESTOR:"):
        user = await create_user(app, db, Role.INVESTOR, records[role.split(":")[1]].id)
        headers = bearer(access_token(app, user))
    else:
        headers = {"X-API-Key": await api_key_for(db, Role[role])}
    async with http_client(app, headers) as http:
        yield http


OWNERS = {"a1": ("F", "alice"), "b1": ("F", "bob"), "c1": ("F", "carol"), "g1": ("G", "alice")}


def conn(names: str = "", *related: str) -> dict[str, Any]:
    """A connection of the named records; commitments with their `related` fund / investor."""
    nodes = [
        {"id": name} | {field: {"id": OWNERS[name][field == "investor"]} for field in related}
        for name in names.split()
    ]
    return {"totalCount": len(nodes), "nodes": nodes}


def page(names: str, **page_info: bool) -> dict[str, Any]:
    return {"nodes": [{"id": name} for name in names.split()], "pageInfo": page_info}


def lookups(typename: str, name: str, other: str) -> dict[str, Any]:
    """What `<type>(id: name) { id } node(id: name) nodes(ids: [name, other])` read."""
    field = typename[0].lower() + typename[1:]
    node = {"__typename": typename, "id": name}
    return {field: {"id": name}, "node": node, "nodes": [{"id": name}, {"id": other}]}


def vanished(value: Any, gone: set[str]) -> Any:
    """`value` as it must read once the records named in `gone` are deleted: an object of
    theirs is null, and a connection (with `totalCount`) drops them and counts one less."""
    if isinstance(value, list):
        return [vanished(item, gone) for item in value]
    if not isinstance(value, dict):
        return value
    if value.get("id") in gone:
        return None
    read = {key: vanished(item, gone) for key, item in value.items()}
    if "totalCount" in value and "nodes" in value:
        read["nodes"] = [node for node in read["nodes"] if node is not None]
        read["totalCount"] -= len(value["nodes"]) - len(read["nodes"])
    return read


BY_TYPE = {"FAMILY_OFFICE": "2500.00", "INDIVIDUAL": "700.00", "INSTITUTION": "1000.00"}


def summary(committed: str, count: int, percent: float, left: str, types: str) -> Any:
    """Fund F's summary: `count` commitments by as many investors, split by `types`."""
    parts = [{"investorType": kind, "committedUsd": BY_TYPE[kind]} for kind in types.split()]
    totals = {"committedUsd": committed, "investmentCount": count, "investorCount": count}
    more = {"percentOfTarget": percent, "remainingToHardCapUsd": left, "byInvestorType": parts}
    return {"fund": {"summary": totals | more}}


def totals(field: str, rows: str) -> dict[str, Any]:
    """`"F:4200.00:3 G:400.00:1"` as nodes with `<field>` and `investments { totalCount }`."""
    nodes = []
    for row in rows.split():
        name, usd, count = row.split(":")
        total = {"summary": {"committedUsd": usd}} if field == "summary" else {field: usd}
        nodes.append({"id": name, **total, "investments": {"totalCount": int(count)}})
    return {"nodes": nodes}


@dataclass(frozen=True)
class Path:
    """A query, and what each of `roles` reads: `live`; deleted, what `vanished` makes of
    that unless `gone` says otherwise."""

    name: str
    query: str
    variables: dict[str, Any]
    live: Any
    gone: Any = None
    roles: tuple[str, ...] = ("ADMIN", "ANALYST")


LOOKUPS = """query($id: ID!, $ids: [ID!]!) {{ {field}(id: $id) {{ id }}
  node(id: $id) {{ __typename id }} nodes(ids: $ids) {{ id }} }}"""
SUMMARY = """query($f: ID!) { fund(id: $f) { summary { committedUsd investmentCount investorCount
  percentOfTarget remainingToHardCapUsd byInvestorType { investorType committedUsd } } } }"""
PAGES = """{{ top: {field}(first: 1, orderBy: [{{field: {order}, direction: DESC}}])
  {{ nodes {{ id }} pageInfo {{ hasNextPage }} }} end: {field}(last: 1,
  orderBy: [{{field: {order}}}]) {{ nodes {{ id }} pageInfo {{ hasPreviousPage }} }} }}"""
F_SUMMARY = summary("4200.00", 3, 84.0, "5800.00", "FAMILY_OFFICE INDIVIDUAL INSTITUTION")

INVESTMENT_PATHS = [
    Path(
        "investment(id), node(id), nodes(ids)",
        LOOKUPS.format(field="investment"),
        {"id": "$b1", "ids": ["$b1", "$a1"]},
        lookups("Investment", "b1", "a1"),
    ),
    Path(
        "investments: plain, by fund, by investor + date + amount",
        f"""query($f: ID!, $i: ID!) {{ all: investments(first: 100) {{ {CONN} }}
          byFund: investments(filter: {{fundId: {{eq: $f}}}}) {{ {CONN} }}
          byBob: investments(filter: {{investorId: {{in: [$i]}},
            investmentDate: {{eq: "2024-03-01"}}, amountUsd: {{gte: "2000"}}}}) {{ {CONN} }} }}""",
        {"f": "$F", "i": "$bob"},
        {"all": conn("a1 b1 c1 g1"), "byFund": conn("a1 b1 c1"), "byBob": conn("b1")},
    ),
    Path(
        "investments ordered by amount, first and last page",
        PAGES.format(field="investments", order="AMOUNT_USD"),
        {},
        {"top": page("b1", hasNextPage=True), "end": page("b1", hasPreviousPage=True)},
        {"top": page("a1", hasNextPage=True), "end": page("a1", hasPreviousPage=True)},
    ),
    Path(
        "fund.investments (filtered), investor.investments with fund",
        f"""query($f: ID!, $i: ID!) {{ fund(id: $f) {{ all: investments {{ {CONN} }}
          bobs: investments(filter: {{investorId: {{eq: $i}}}}) {{ {CONN} }} }}
          investor(id: $i) {{ investments {{ totalCount nodes {{ id fund {{ id }} }} }} }} }}""",
        {"f": "$F", "i": "$bob"},
        {"fund": {"all": conn("a1 b1 c1"), "bobs": conn("b1")}}
        | {"investor": {"investments": conn("b1", "fund")}},
    ),
    Path(
        "fund.investments(first: 2), investor.investments(last: 1): page edges",
        """query($f: ID!, $i: ID!) { fund(id: $f) { investments(first: 2)
          { nodes { id } pageInfo { hasNextPage } } } investor(id: $i) {
          investments(last: 1) { nodes { id } pageInfo { hasPreviousPage } } } }""",
        {"f": "$F", "i": "$bob"},
        {"fund": {"investments": page("a1 b1", hasNextPage=True)}}
        | {"investor": {"investments": page("b1", hasPreviousPage=False)}},
        {"fund": {"investments": page("a1 c1", hasNextPage=False)}}
        | {"investor": {"investments": page("", hasPreviousPage=False)}},
    ),
    Path(
        "fund.summary with byInvestorType",
        SUMMARY,
        {"f": "$F"},
        F_SUMMARY,
        summary("1700.00", 2, 34.0, "8300.00", "INDIVIDUAL INSTITUTION"),
    ),
    Path(
        "funds.summary, investors.totalCommittedUsd, nested counts: batched over parents",
        """{ funds { nodes { id summary { committedUsd } investments { totalCount } } }
          investors { nodes { id totalCommittedUsd investments { totalCount } } } }""",
        {},
        {"funds": totals("summary", "F:4200.00:3 G:400.00:1")}
        | {
            "investors": totals("totalCommittedUsd", "alice:1400.00:2 bob:2500.00:1 carol:700.00:1")
        },
        {"funds": totals("summary", "F:1700.00:2 G:400.00:1")}
        | {"investors": totals("totalCommittedUsd", "alice:1400.00:2 bob:0.00:0 carol:700.00:1")},
    ),
    Path(
        "node(a1).fund.investments and .summary, from a sibling",
        f"""query($a: ID!) {{ node(id: $a) {{ ... on Investment {{ fund {{
          investments {{ {CONN} }} summary {{ investmentCount }} }} }} }} }}""",
        {"a": "$a1"},
        {"node": {"fund": {"investments": conn("a1 b1 c1"), "summary": {"investmentCount": 3}}}},
        {"node": {"fund": {"investments": conn("a1 c1"), "summary": {"investmentCount": 2}}}},
    ),
    Path(
        "INVESTOR bob: own commitments, fund.summary, me.investor",
        f"""query($id: ID!, $f: ID!) {{ investment(id: $id) {{ id }} investments {{ {CONN} }}
          fund(id: $f) {{ summary {{ committedUsd }} }}
          me {{ investor {{ totalCommittedUsd investments {{ {CONN} }} }} }} }}""",
        {"id": "$b1", "f": "$F"},
        {"investment": {"id": "b1"}, "investments": conn("b1")}
        | {"fund": {"summary": {"committedUsd": "2500.00"}}}
        | {"me": {"investor": {"totalCommittedUsd": "2500.00", "investments": conn("b1")}}},
        {"investment": None, "investments": conn()}
        | {"fund": {"summary": {"committedUsd": "0.00"}}}
        | {"me": {"investor": {"totalCommittedUsd": "0.00", "investments": conn()}}},
        roles=("INVESTOR:bob",),
    ),
]

INVESTOR_PATHS = [
    Path(
        "investor(id), node(id), nodes(ids)",
        LOOKUPS.format(field="investor"),
        {"id": "$carol", "ids": ["$carol", "$alice"]},
        lookups("Investor", "carol", "alice"),
    ),
    Path(
        "investors: plain, by email (a lookup), by name + type; investments by investor",
        f"""query($e: String!, $i: ID!) {{ all: investors {{ {CONN} }}
          byEmail: investors(filter: {{email: {{eq: $e}}}}) {{ {CONN} }}
          byName: investors(filter: {{name: {{contains: "ZIMM"}},
            investorType: {{in: [INDIVIDUAL]}}}}) {{ {CONN} }}
          investments(filter: {{investorId: {{eq: $i}}}}) {{ {CONN} }} }}""",
        {"e": "carol@example.com", "i": "$carol"},
        {"all": conn("alice bob carol"), "byEmail": conn("carol"), "byName": conn("carol")}
        | {"investments": conn("c1")},
        roles=("ADMIN",),  # an ANALYST may not filter on emails it cannot see
    ),
    Path(
        "investors ordered by name, first and last page",
        PAGES.format(field="investors", order="NAME"),
        {},
        {"top": page("carol", hasNextPage=True), "end": page("carol", hasPreviousPage=True)},
        {"top": page("bob", hasNextPage=True), "end": page("bob", hasPreviousPage=True)},
    ),
    Path(
        "fund.summary: investorCount, byInvestorType",
        SUMMARY,
        {"f": "$F"},
        F_SUMMARY,
        summary("3500.00", 2, 70.0, "6500.00", "FAMILY_OFFICE INSTITUTION"),
    ),
    Path(
        "INVESTOR carol: own record, investors, investments, me.investor",
        f"""query($id: ID!) {{ investor(id: $id) {{ id email }} investors {{ {CONN} }}
          investments {{ {CONN} }} me {{ investor {{ id }} }} }}""",
        {"id": "$carol"},
        {"investor": {"id": "carol", "email": "carol@example.com"}, "investors": conn("carol")}
        | {"investments": conn("c1"), "me": {"investor": {"id": "carol"}}},
        roles=("INVESTOR:carol",),
    ),
]

FUND_PATHS = [
    Path(
        "fund(id), node(id), nodes(ids)",
        LOOKUPS.format(field="fund"),
        {"id": "$G", "ids": ["$G", "$F"]},
        lookups("Fund", "G", "F"),
    ),
    Path(
        "funds: plain, by name, by status + vintageYear + targetSizeUsd; investments by fund",
        f"""query($f: ID!) {{ all: funds {{ {CONN} }}
          byName: funds(filter: {{name: {{contains: "zeta"}}}}) {{ {CONN} }}
          byNumbers: funds(filter: {{status: {{in: [FUNDRAISING]}}, vintageYear: {{gte: 2020}},
            targetSizeUsd: {{gte: "1000"}}}}) {{ {CONN} }}
          investments(filter: {{fundId: {{eq: $f}}}}) {{ {CONN} }} }}""",
        {"f": "$G"},
        {"all": conn("F G"), "byName": conn("G"), "byNumbers": conn("F G")}
        | {"investments": conn("g1")},
    ),
    Path(
        "funds ordered by name, first and last page",
        PAGES.format(field="funds", order="NAME"),
        {},
        {"top": page("G", hasNextPage=True), "end": page("G", hasPreviousPage=True)},
        {"top": page("F", hasNextPage=False), "end": page("F", hasPreviousPage=False)},
    ),
    Path(
        "investor.totalCommittedUsd, investor.investments with fund",
        """query($i: ID!) { investor(id: $i) { totalCommittedUsd
          investments { totalCount nodes { id fund { id } } } } }""",
        {"i": "$alice"},
        {"investor": {"totalCommittedUsd": "1400.00", "investments": conn("a1 g1", "fund")}},
        {"investor": {"totalCommittedUsd": "1000.00", "investments": conn("a1", "fund")}},
    ),
    Path(
        "INVESTOR alice: fund(id), funds",
        f"query($id: ID!) {{ fund(id: $id) {{ id }} funds {{ {CONN} }} }}",
        {"id": "$G"},
        {"fund": {"id": "G"}, "funds": conn("F G")},
        roles=("INVESTOR:alice",),
    ),
]

PATHS = {"investment": INVESTMENT_PATHS, "investor": INVESTOR_PATHS, "fund": FUND_PATHS}


@pytest.mark.parametrize("kind", list(PATHS))
async def test_a_deleted_row_leaves_every_path_and_comes_back_when_restored(
    kind: str, app: Any, client: httpx.AsyncClient, db: Database
) -> None:
    """Each path of the kind's table, read live, deleted and restored; every mismatch is
    reported under the path's name."""
    deleted = {name for _, name in DELETE[kind]}
    expected = {
        path.name: (path.live, vanished(path.live, deleted) if path.gone is None else path.gone)
        for path in PATHS[kind]
    }
    assert [name for name, (live, gone) in expected.items() if live == gone] == []
    records = await build_world(db)
    ids = {f"${name}": gid(record) for name, record in records.items()}
    reads = [(role, path) for path in PATHS[kind] for role in path.roles]
    async with AsyncExitStack() as stack:
        callers = {
            role: await stack.enter_async_context(caller(app, db, client, role, records))
            for role, _ in reads
        }

        async def mismatches(state: int) -> dict[str, Any]:
            found = {}
            for role, path in reads:
                body = await execute(callers[role], path.query, swap(path.variables, ids))
                read, wanted = outcome(body, records), expected[path.name][state]
                if read != wanted:
                    found[f"{role}: {path.name}"] = {"expected": wanted, "read": read}
            return found

        assert await mismatches(0) == {}
        await apply(client, "delete", kind, records)
        assert await mismatches(1) == {}
        await apply(client, "restore", kind, records)
        assert await mismatches(0) == {}


LISTS = f"""query($d: DeletedFilter) {{ funds(deleted: $d) {{ {CONN} }}
  investors(deleted: $d) {{ {CONN} }}
  investments(deleted: $d) {{ totalCount nodes {{ id fund {{ id }} investor {{ id }} }} }} }}"""
EVERYONE = ("F G", "alice bob carol", "a1 b1 c1 g1")


def lists(keep: Any) -> dict[str, Any]:
    """The three root connections, listing the records for which `keep(name)` holds."""
    funds, investors, investments = (
        " ".join(name for name in names.split() if keep(name)) for names in EVERYONE
    )
    return {"funds": conn(funds), "investors": conn(investors)} | {
        "investments": conn(investments, "fund", "investor")
    }


@pytest.mark.parametrize("kind", list(DELETE))
async def test_admin_lists_deleted_rows_on_every_root_connection(
    kind: str, client: httpx.AsyncClient, db: Database
) -> None:
    """DELETED lists only deleted rows (a deleted commitment with its fund and investor,
    deleted or not), ALL lists every row, LIVE (also null) the others."""
    records = await build_world(db)
    gone: set[str] = set()

    def expected() -> dict[str | None, Any]:
        live = lists(lambda name: name not in gone)
        deleted, every = lists(lambda name: name in gone), lists(lambda name: True)
        return {None: live, "LIVE": live, "DELETED": deleted, "ALL": every}

    async def read() -> dict[str | None, Any]:
        modes = (None, "LIVE", "DELETED", "ALL")
        return {mode: outcome(await execute(client, LISTS, {"d": mode}), records) for mode in modes}

    assert await read() == expected()
    await apply(client, "delete", kind, records)
    gone = {name for _, name in DELETE[kind]}
    assert await read() == expected()
    await apply(client, "restore", kind, records)
    gone = set()
    assert await read() == expected()


@pytest.mark.parametrize("role", ["MANAGER", "ANALYST", "INVESTOR:bob"])
async def test_only_admin_may_list_deleted_rows(
    role: str, app: Any, client: httpx.AsyncClient, db: Database
) -> None:
    records = await build_world(db)
    await apply(client, "delete", "fund", records)
    visible = {"funds": "F", "investors": "alice bob carol", "investments": "a1 b1 c1"}
    if role.startswith("INVESTOR"):
        visible |= {"investors": "bob", "investments": "b1"}
    async with caller(app, db, client, role, records) as http:
        for root, names in visible.items():
            query = f"query($d: DeletedFilter) {{ {root}(deleted: $d) {{ {CONN} }} }}"
            for mode in ("DELETED", "ALL"):
                body = await execute(http, query, {"d": mode})
                assert (error_codes(body), body["data"]) == (["FORBIDDEN"], None), (root, mode)
            for live in (None, "LIVE"):
                body = await execute(http, query, {"d": live})
                assert outcome(body, records) == {root: conn(names)}, (root, live)


APQ = f"query ApqFunds {{ funds {{ {CONN} }} }}"
TRUSTED = f"query TrustedFunds {{ funds {{ {CONN} }} }}"
REDIS_APQ_KEY = "graphql_api:apq:"  # RedisStore's namespace + the APQ key prefix


def persisted(document: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256(document)}}


async def test_cached_documents_never_serve_a_deleted_row(
    client: httpx.AsyncClient,
    db: Database,
    database_urls: dict[str, str],
    backend: str,
    redis_url: str,
    tmp_path: FilePath,
) -> None:
    """Parsed, validated, persisted (APQ, in Redis) and trusted documents are reused; their
    results never are: every read after a delete or a restore is fresh, over GET and POST."""
    manifest = tmp_path / "trusted.json"
    manifest.write_text(json.dumps({sha256(TRUSTED): TRUSTED}))
    settings = make_settings(
        database_urls[backend], redis_url=redis_url, trusted_documents_path=str(manifest)
    )
    records = await build_world(db)
    key = {"X-API-Key": await api_key_for(db, Role.ADMIN)}
    async with running_app(settings) as app, http_client(app, key) as http:
        store = redis.Redis.from_url(redis_url)
        try:  # registered now, in Redis (not left over from an earlier run)
            await store.delete(REDIS_APQ_KEY + sha256(APQ))
            registered = await http.post(
                "/graphql", json={"query": APQ, "extensions": persisted(APQ)}
            )
            assert await store.exists(REDIS_APQ_KEY + sha256(APQ)) == 1
        finally:
            await store.aclose()
        assert outcome(registered.json(), records) == {"funds": conn("F G")}

        async def reads() -> list[Any]:
            by_hash = {"extensions": json.dumps(persisted(APQ))}
            responses = [
                await http.post("/graphql", json={"extensions": persisted(APQ)}),
                await http.get("/graphql", params=by_hash, headers=PREFLIGHT),
                await http.post("/graphql", json={"extensions": persisted(TRUSTED)}),
                await http.get("/graphql", params={"query": APQ}, headers=PREFLIGHT),
                await client.post("/graphql", json={"query": APQ}),  # the parser cache
            ]
            return [outcome(response.json(), records) for response in responses]

        assert await reads() == [{"funds": conn("F G")}] * 5
        await apply(client, "delete", "fund", records)
        assert await reads() == [{"funds": conn("F")}] * 5
        await apply(client, "restore", "fund", records)
        assert await reads() == [{"funds": conn("F G")}] * 5


async def test_a_get_response_may_not_be_kept_by_shared_caches(
    client: httpx.AsyncClient, db: Database
) -> None:
    response = await client.get("/graphql", params={"query": APQ}, headers=PREFLIGHT)
    assert response.status_code == 200
    directives = {part.strip() for part in response.headers.get("cache-control", "").split(",")}
    assert directives & {"no-store", "private"}, dict(response.headers)


COMMIT = {
    "createInvestment": """mutation($new: CreateInvestmentInput!) {
      made: createInvestment(input: $new) {
        replayed investment { id fund { id } } errors { code } } }""",
    "createInvestments": """mutation($new: CreateInvestmentInput!, $key: String) {
      made: createInvestments(inputs: [$new], idempotencyKey: $key) {
        replayed investments { id fund { id } } errors { code } } }""",
}


@pytest.mark.parametrize("also_fund", [False, True], ids=["investment deleted", "fund deleted"])
@pytest.mark.parametrize("mutation", list(COMMIT))
async def test_an_idempotent_replay_does_not_return_a_deleted_commitment(
    mutation: str, also_fund: bool, client: httpx.AsyncClient, db: Database
) -> None:
    """The stored result of an idempotency key is a response cache too."""
    records = await build_world(db)
    new = {"fundId": gid(records["G"]), "investorId": gid(records["bob"])}
    new |= {"amountUsd": "300.00", "investmentDate": "2024-05-01"}
    key = "soft-delete-paths"
    if mutation == "createInvestment":
        new["idempotencyKey"] = key

    errors: list[str] = []

    async def commit() -> tuple[bool, list[Any]]:
        made = (await data_of(client, COMMIT[mutation], {"new": new, "key": key}))["made"]
        shown = made.get("investments", [made.get("investment")])
        errors[:] = [error["code"] for error in made["errors"]]
        return made["replayed"], [investment for investment in shown if investment is not None]

    replayed, [made] = await commit()
    assert (replayed, made["fund"]) == (False, {"id": gid(records["G"])})
    assert await commit() == (True, [made])
    await change(client, "delete", "Investment", made["id"])
    if also_fund:
        await apply(client, "delete", "fund", records)

    _, shown = await commit()
    assert shown == [], "the replay shows a deleted commitment"
    assert errors == ["NOT_FOUND"]  # it was committed, and is gone since
