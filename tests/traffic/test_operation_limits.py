"""Operation limits, checked before anything runs: each on both sides of its boundary.

Every limit is set small on an app of its own, so the documents stay readable.
Fragments (named and inline) are followed when measuring; circular ones are
refused. The README's examples pass under the production defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from graphql_api.db.session import Database
from tests.graphql import error_codes, execute
from tests.test_readme import readme_examples
from tests.traffic.support import (
    GRAPHQL_RESPONSE,
    LIMIT_CODES,
    PRODUCTION,
    Apps,
    only_error,
    post,
)


async def limited(instances: Apps, **limits: Any) -> httpx.AsyncClient:
    """An ADMIN client of an app with these limits (everything else at its default)."""
    return await instances.client(await instances.start(**limits))


async def assert_passes(http: httpx.AsyncClient, query: str) -> dict[str, Any]:
    body = await execute(http, query)
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


async def assert_refused(
    http: httpx.AsyncClient, query: str, *, limit: str, measured: int, maximum: int
) -> dict[str, Any]:
    """Refused as one top-level QUERY_TOO_COMPLEX error naming the limit and both numbers."""
    error = only_error(await execute(http, query))
    assert error["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": limit,
        "measured": measured,
        "maximum": maximum,
    }
    assert f"{measured} {limit}" in error["message"], error["message"]
    assert f"maximum is {maximum}" in error["message"], error["message"]
    return error


class TestDepth:
    async def test_a_document_exactly_as_deep_as_allowed_runs(self, instances: Apps) -> None:
        http = await limited(instances, max_depth=3)
        data = await assert_passes(http, "{ funds { nodes { id } } }")
        assert data == {"funds": {"nodes": []}}

    async def test_one_level_more_is_refused(self, instances: Apps) -> None:
        http = await limited(instances, max_depth=3)
        await assert_refused(
            http,
            "{ funds { nodes { investments { totalCount } } } }",
            limit="levels of nesting",
            measured=4,
            maximum=3,
        )

    @pytest.mark.parametrize(
        "query",
        [
            pytest.param(
                "{ funds { ...Page } } "
                "fragment Page on FundConnection { nodes { investments { totalCount } } }",
                id="named fragment",
            ),
            pytest.param(
                "{ funds { ... on FundConnection { nodes { investments { totalCount } } } } }",
                id="inline fragment",
            ),
            pytest.param(
                "{ ...Root } fragment Root on Query { funds { ...Page } } "
                "fragment Page on FundConnection { nodes { investments { totalCount } } }",
                id="fragment in a fragment",
            ),
        ],
    )
    async def test_fragments_are_followed(self, instances: Apps, query: str) -> None:
        http = await limited(instances, max_depth=3)
        await assert_refused(http, query, limit="levels of nesting", measured=4, maximum=3)

    async def test_a_fragment_within_the_limit_runs(self, instances: Apps) -> None:
        http = await limited(instances, max_depth=3)
        await assert_passes(
            http, "{ funds { ...Page } } fragment Page on FundConnection { nodes { id } }"
        )


class TestAliases:
    async def test_as_many_aliases_as_allowed_run(self, instances: Apps) -> None:
        http = await limited(instances, max_aliases=2)
        data = await assert_passes(http, "{ a: __typename b: __typename }")
        assert data == {"a": "Query", "b": "Query"}

    async def test_one_alias_more_is_refused(self, instances: Apps) -> None:
        http = await limited(instances, max_aliases=2)
        await assert_refused(
            http,
            "{ a: __typename b: __typename c: __typename }",
            limit="aliases",
            measured=3,
            maximum=2,
        )

    @pytest.mark.parametrize(
        "query",
        [
            pytest.param(
                "{ a: __typename ...More } fragment More on Query { b: __typename c: __typename }",
                id="named fragment",
            ),
            pytest.param(
                "{ a: __typename ... on Query { b: __typename c: __typename } }",
                id="inline fragment",
            ),
            pytest.param("{ f: funds { n: nodes { i: id } } }", id="nested fields"),
        ],
    )
    async def test_aliases_are_counted_everywhere(self, instances: Apps, query: str) -> None:
        http = await limited(instances, max_aliases=2)
        await assert_refused(http, query, limit="aliases", measured=3, maximum=2)


class TestDirectives:
    async def test_as_many_directives_as_allowed_run(self, instances: Apps) -> None:
        http = await limited(instances, max_directives=2)
        data = await assert_passes(
            http, "{ a: __typename @include(if: true) b: __typename @skip(if: true) }"
        )
        assert data == {"a": "Query"}

    async def test_one_directive_more_is_refused(self, instances: Apps) -> None:
        http = await limited(instances, max_directives=2)
        await assert_refused(
            http,
            "{ a: __typename @include(if: true) b: __typename @skip(if: true) "
            "c: __typename @include(if: false) }",
            limit="directives",
            measured=3,
            maximum=2,
        )

    async def test_directives_in_fragments_and_on_spreads_count(self, instances: Apps) -> None:
        http = await limited(instances, max_directives=2)
        await assert_refused(
            http,
            "{ ...F @include(if: true) } "
            "fragment F on Query { __typename @skip(if: false) me @include(if: true) { id } }",
            limit="directives",
            measured=3,
            maximum=2,
        )


class TestRootFields:
    async def test_as_many_root_fields_as_allowed_run(self, instances: Apps) -> None:
        http = await limited(instances, max_root_fields=3)
        data = await assert_passes(http, "{ __typename me { id } funds { totalCount } }")
        assert data == {"__typename": "Query", "me": None, "funds": {"totalCount": 0}}

    async def test_one_root_field_more_is_refused(self, instances: Apps) -> None:
        http = await limited(instances, max_root_fields=3)
        await assert_refused(
            http,
            "{ __typename me { id } funds { totalCount } investors { totalCount } }",
            limit="root fields",
            measured=4,
            maximum=3,
        )

    async def test_root_fields_of_fragments_count(self, instances: Apps) -> None:
        http = await limited(instances, max_root_fields=3)
        await assert_refused(
            http,
            "{ __typename ...Lists } "
            "fragment Lists on Query { me { id } funds { totalCount } investors { totalCount } }",
            limit="root fields",
            measured=4,
            maximum=3,
        )


def typename_aliases(count: int) -> str:
    """`{ a1: __typename ... }`: 2 + 3 * count tokens."""
    return "{ " + " ".join(f"a{n}: __typename" for n in range(1, count + 1)) + " }"


class TestTokens:
    async def test_a_document_of_exactly_the_maximum_tokens_runs(self, instances: Apps) -> None:
        http = await limited(instances, max_tokens=50)
        data = await assert_passes(http, typename_aliases(16))  # 50 tokens
        assert len(data) == 16

    async def test_one_token_more_is_refused(self, instances: Apps) -> None:
        http = await limited(instances, max_tokens=50)
        query = typename_aliases(16).removesuffix("}") + "__typename }"  # 51 tokens
        error = only_error(await execute(http, query))
        assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
        assert "more than 50 tokens" in error["message"]

    async def test_whitespace_and_commas_are_not_tokens(self, instances: Apps) -> None:
        http = await limited(instances, max_tokens=50)
        await assert_passes(http, typename_aliases(16).replace(" a", ",\n\t a") + " " * 20)


class TestDocumentSize:
    async def test_a_document_of_exactly_the_maximum_characters_runs(self, instances: Apps) -> None:
        http = await limited(instances, max_document_chars=100)
        query = "{ __typename }".ljust(100)
        assert len(query) == 100
        assert await assert_passes(http, query) == {"__typename": "Query"}

    async def test_one_character_more_is_refused(self, instances: Apps) -> None:
        http = await limited(instances, max_document_chars=100)
        await assert_refused(
            http, "{ __typename }".ljust(101), limit="characters", measured=101, maximum=100
        )


class TestHowRefusalsLook:
    async def test_every_limit_exceeded_is_reported_at_once(self, instances: Apps) -> None:
        http = await limited(instances, max_depth=2, max_aliases=1)
        body = await execute(http, "{ f: funds { n: nodes { id } } }")
        assert error_codes(body) == ["QUERY_TOO_COMPLEX", "QUERY_TOO_COMPLEX"]
        assert [e["extensions"]["limit"] for e in body["errors"]] == [
            "levels of nesting",
            "aliases",
        ]

    async def test_with_graphql_response_json_a_refusal_is_a_400(self, instances: Apps) -> None:
        http = await limited(instances, max_depth=2)
        response = await post(
            http, "{ funds { nodes { id } } }", headers={"Accept": GRAPHQL_RESPONSE}
        )
        assert response.status_code == 400
        assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
        assert only_error(response.json())["extensions"]["code"] == "QUERY_TOO_COMPLEX"

    async def test_only_the_operation_that_runs_is_measured(self, instances: Apps) -> None:
        http = await limited(instances, max_depth=2)
        document = "query Deep { funds { nodes { id } } } query Shallow { __typename }"
        response = await http.post("/graphql", json={"query": document, "operationName": "Shallow"})
        assert response.json()["data"] == {"__typename": "Query"}
        response = await http.post("/graphql", json={"query": document, "operationName": "Deep"})
        assert error_codes(response.json()) == ["QUERY_TOO_COMPLEX"]

    async def test_refused_documents_are_not_charged(self, instances: Apps) -> None:
        app = await instances.start(
            max_depth=2, rate_limit_capacity=5, rate_limit_refill_per_second=0
        )
        http = await instances.client(app)
        for _ in range(10):
            body = await execute(http, "{ funds { nodes { id } } }")
            assert error_codes(body) == ["QUERY_TOO_COMPLEX"]
        body = await execute(http, "{ __typename }")
        assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 4


class TestCircularFragments:
    @pytest.mark.parametrize(
        "query",
        [
            pytest.param("{ ...A } fragment A on Query { __typename ...A }", id="itself"),
            pytest.param(
                "{ ...A } fragment A on Query { ...B } fragment B on Query { ...C } "
                "fragment C on Query { __typename ...A }",
                id="through others",
            ),
            pytest.param(
                "{ funds { nodes { ...F } } } "
                "fragment F on Fund { investments { nodes { fund { ...F } } } }",
                id="through fields",
            ),
            pytest.param(
                "{ __typename } fragment A on Query { ...B } fragment B on Query { ...A }",
                id="unused",
            ),
        ],
    )
    async def test_a_fragment_that_spreads_itself_is_refused(
        self, admin: httpx.AsyncClient, query: str
    ) -> None:
        error = only_error(await execute(admin, query))
        assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        assert error["extensions"]["limit"] == "circular fragments"
        assert "spreads itself" in error["message"]

    async def test_a_fragment_used_twice_is_not_circular(self, admin: httpx.AsyncClient) -> None:
        body = await execute(
            admin, "{ a: __typename ...F ...F } fragment F on Query { b: me { id } }"
        )
        assert body["data"] == {"a": "Query", "b": None}


class TestProductionDefaults:
    async def test_every_readme_example_passes_the_limits(
        self, instances: Apps, db: Database, repo_root: Path
    ) -> None:
        # Given the server with the production defaults
        app = await instances.start(**PRODUCTION)
        http = await instances.client(app)
        examples = readme_examples(repo_root)
        assert len(examples) >= 8
        created: dict[str, Any] = {}

        for document in examples:
            # When each example runs (with what earlier examples created)
            variables = {
                "after": None,
                "fundId": created.get("fund", {}).get("id"),
                "investorId": created.get("investor", {}).get("id"),
                "id": created.get("fund", {}).get("id"),
                "version": created.get("fund", {}).get("version"),
            }
            body = await execute(http, document, variables)

            # Then no limit refuses it, and it runs without any error
            assert not LIMIT_CODES & set(error_codes(body)), (document, body)
            assert "errors" not in body, (document, body)
            assert body["extensions"]["cost"]["requestedQueryCost"] <= 5_000
            for payload in body["data"].values():
                if isinstance(payload, dict) and "errors" in payload:
                    assert payload["errors"] == [], (document, payload)
                    for name, record in payload.items():
                        if name != "errors":
                            created.setdefault(name, {}).update(record)
        assert {"fund", "investor", "investment"} <= set(created)
