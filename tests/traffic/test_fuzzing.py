"""Property-based requests generated from our own schema (hypothesis-graphql), as each role.

Valid queries and mutations, and invalid documents, are generated (a bounded,
reproducible number of each) and sent to the server with the production
defaults. Whatever they ask, no response is a 500, no error is an unexpected
one, and none shows a traceback, SQL or the database driver's words.
"""

from __future__ import annotations

import re
from datetime import UTC
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema, mutations, nodes, queries

from graphql_api.auth.principal import Role
from graphql_api.db.session import Database
from tests.traffic.support import PRODUCTION, Apps

SCHEMA = (Path(__file__).resolve().parents[2] / "schema.graphql").read_text()

# Our custom scalars, as value nodes: mostly well-formed, sometimes any text at all.
SCALARS = {
    "Decimal": (
        st.decimals(min_value=-(10**16), max_value=10**16, places=2, allow_nan=False).map(str)
        | st.text(max_size=12)
    ).map(nodes.String),
    "Date": (st.dates().map(str) | st.text(max_size=12)).map(nodes.String),
    "DateTime": (
        st.datetimes(timezones=st.just(UTC)).map(lambda moment: moment.isoformat())
        | st.text(max_size=12)
    ).map(nodes.String),
    "JSON": st.text(max_size=12).map(nodes.String),
}

LEAKS = re.compile(
    r"traceback|File \"|sqlalchemy|asyncpg|aiosqlite|sqlite3|psycopg|"
    r"\bSELECT\b|\bINSERT\b|\bUPDATE\b .* SET|\bFROM funds\b",
    re.IGNORECASE,
)
UNEXPECTED = {"INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE"}


def examples(strategy: st.SearchStrategy[Any], count: int) -> list[str]:
    """`count` documents drawn from `strategy`, the same ones on every run."""
    drawn: list[str] = []

    @settings(
        max_examples=count,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def draw(document: Any) -> None:
        drawn.append(str(document))

    draw()
    return drawn


@st.composite
def corrupted(draw: st.DrawFn, documents: list[str]) -> str:
    """A document one slip of the keyboard away from a valid one."""
    document = draw(st.sampled_from(documents))
    position = draw(st.integers(0, len(document)))
    junk = draw(st.text(alphabet="{}()[]:$@!.\"'#,= \n\\azAZ09", max_size=4))
    cut = draw(st.integers(0, 3))
    return document[:position] + junk + document[position + cut :]


@cache
def documents() -> tuple[str, ...]:
    """The same documents for every role and back end (drawn once per test session)."""
    valid = examples(queries(SCHEMA, custom_scalars=SCALARS), 12)
    valid += examples(mutations(SCHEMA, custom_scalars=SCALARS), 8)
    invalid = examples(from_schema(SCHEMA, custom_scalars=SCALARS, mode=Mode.NEGATIVE), 6)
    broken = examples(corrupted(valid), 6)
    return (*valid, *invalid, *broken)


def assert_no_surprise(response: httpx.Response, document: str) -> None:
    assert response.status_code < 500, (document, response.text[:500])
    assert not LEAKS.search(response.text), (document, response.text[:500])
    body = response.json()
    for error in body.get("errors", []):
        code = error.get("extensions", {}).get("code")
        assert code, (document, error)
        assert code not in UNEXPECTED, (document, error)


# The widest view and every write (ADMIN), the narrowest view (INVESTOR), and no one.
@pytest.mark.parametrize("role", [Role.ADMIN, Role.INVESTOR, None], ids=str)
async def test_generated_documents_never_surprise_the_server(
    instances: Apps, db: Database, role: Role | None
) -> None:
    app = await instances.start(**PRODUCTION, rate_limit_enabled=False)
    http = await instances.client(app, role=role)
    for document in documents():
        response = await http.post("/graphql", json={"query": document})
        assert_no_surprise(response, document)
    # and the server is none the worse for it
    healthy = await http.post("/graphql", json={"query": "{ __typename }"})
    assert healthy.json()["data"] == {"__typename": "Query"}
