"""Hostile input under the production defaults: each gets a prompt, clear refusal (never a
500, never a traceback) and the server answers the next normal request as usual."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.traffic.support import PRODUCTION, Apps

JSON = {"Content-Type": "application/json"}


def deep_query(levels: int) -> str:
    """A valid query nested `levels` deep: funds → nodes → investments → nodes → fund → …"""
    path = ["funds", "nodes"]
    while len(path) < levels - 1:
        path += ["investments", "nodes", "fund"]
    path = path[: levels - 1]
    return "{ " + " { ".join(path) + " { id" + " }" * len(path) + " }"


def fragment_bomb(levels: int, on: str = "Query", leaf: str = "__typename") -> list[str]:
    """Fragments that each spread the previous one twice: 2^levels fields when expanded."""
    fragments = [f"fragment F0 on {on} {{ {leaf} }}"]
    fragments += [
        f"fragment F{n} on {on} {{ ...F{n - 1} ...F{n - 1} }}" for n in range(1, levels + 1)
    ]
    return fragments


def query(document: str) -> dict[str, Any]:
    return {"json": {"query": document}}


def raw(body: bytes) -> dict[str, Any]:
    return {"content": body, "headers": JSON}


@dataclass(frozen=True)
class Hostile:
    request: Callable[[], dict[str, Any]]  # httpx.post keyword arguments, built lazily
    status: int
    code: str
    says: str
    batching: bool = False


HOSTILE = {
    "depth 50": Hostile(lambda: query(deep_query(50)), 200, "QUERY_TOO_COMPLEX", "50 levels"),
    "depth 1000": Hostile(
        lambda: query("{" + " a {" * 1000 + " b" + " }" * 1000 + " }"),
        200,
        "GRAPHQL_PARSE_FAILED",
        "nested too deeply",
    ),
    "100 aliases": Hostile(
        lambda: query("{ me { " + " ".join(f"a{n}: id" for n in range(100)) + " } }"),
        200,
        "QUERY_TOO_COMPLEX",
        "100 aliases",
    ),
    "1000 aliases": Hostile(
        lambda: query("{ " + " ".join(f"a{n}: __typename" for n in range(1000)) + " }"),
        200,
        "GRAPHQL_PARSE_FAILED",
        "more than 3000 tokens",
    ),
    "50000 tokens": Hostile(
        lambda: query("{ " + "id " * 50_000 + "}"), 200, "QUERY_TOO_COMPLEX", "characters"
    ),
    "circular fragments": Hostile(
        lambda: query("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }"),
        200,
        "QUERY_TOO_COMPLEX",
        "spreads itself",
    ),
    "100 directives": Hostile(
        lambda: query("{ __typename" + " @include(if: true)" * 100 + " }"),
        200,
        "QUERY_TOO_COMPLEX",
        "100 directives",
    ),
    "500 directives": Hostile(
        lambda: query("{ __typename" + " @include(if: true)" * 500 + " }"),
        200,
        "GRAPHQL_PARSE_FAILED",
        "more than 3000 tokens",
    ),
    "fragment bomb": Hostile(
        lambda: query("{ ...F30 } " + " ".join(fragment_bomb(30))),
        200,
        "QUERY_TOO_COMPLEX",
        "root fields",
    ),
    "fragment bomb under a field": Hostile(
        lambda: query(
            "{ funds(first: 1) { nodes { ...F30 } } } "
            + " ".join(fragment_bomb(30, on="Fund", leaf="investments(first: 1) { nodes { id } }"))
        ),
        200,
        "QUERY_TOO_COMPLEX",
        "cost",
    ),
    "10 MB body": Hostile(
        lambda: {"json": {"query": "{ __typename }", "variables": {"pad": "x" * 10_000_000}}},
        413,
        "PAYLOAD_TOO_LARGE",
        "exceeds 1048576 bytes",
    ),
    "malformed JSON": Hostile(
        lambda: raw(b'{"query": "{ __typename }"'), 400, "BAD_REQUEST", "JSON"
    ),
    "JSON nested 100000 deep": Hostile(
        lambda: raw(b"[" * 100_000 + b"]" * 100_000), 400, "BAD_REQUEST", "JSON"
    ),
    "invalid UTF-8": Hostile(lambda: raw(b'{"query": "\xff\xfe"}'), 400, "BAD_REQUEST", "JSON"),
    "XML": Hostile(
        lambda: {"content": b"<query/>", "headers": {"Content-Type": "application/xml"}},
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        "application/json",
    ),
    "a form": Hostile(
        lambda: {
            "content": b"query=%7B__typename%7D",
            "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        },
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        "application/json",
    ),
    "batch of 1000 (batching off)": Hostile(
        lambda: {"json": [{"query": "{ __typename }"}] * 1000},
        400,
        "BAD_REQUEST",
        "not enabled",
    ),
    "batch of 1000 (batching on)": Hostile(
        lambda: {"json": [{"query": "{ __typename }"}] * 1000},
        400,
        "BAD_REQUEST",
        "1 to 10 operations (got 1000)",
        batching=True,
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE))
async def test_hostile_input_is_refused_clearly_and_the_server_stays_healthy(
    instances: Apps, name: str
) -> None:
    hostile = HOSTILE[name]
    app = await instances.start(**PRODUCTION, batching_enabled=hostile.batching)
    http = await instances.client(app)

    response = await http.post("/graphql", **hostile.request())

    assert response.status_code == hostile.status, response.text[:500]
    assert "traceback" not in response.text.lower()
    body = response.json()
    [error] = body["errors"]
    assert error["extensions"]["code"] == hostile.code, error
    assert hostile.says in error["message"], error["message"]
    assert body.get("data") is None
    # and the next, ordinary request is answered as usual
    healthy = await http.post("/graphql", json={"query": "{ funds(first: 1) { totalCount } }"})
    assert healthy.status_code == 200
    assert healthy.json()["data"] == {"funds": {"totalCount": 0}}


def test_the_deep_query_is_as_deep_as_it_says() -> None:
    document = deep_query(50)
    depth = deepest = 0
    for char in document:
        depth += {"{": 1, "}": -1}.get(char, 0)
        deepest = max(deepest, depth)
    assert deepest == 50


def test_the_hostile_json_is_what_it_says() -> None:
    body = HOSTILE["10 MB body"].request()["json"]
    assert len(json.dumps(body)) > 10_000_000
