"""Persisted documents: Apollo's automatic persisted queries, and trusted documents."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from graphql_api.app import create_app
from graphql_api.auth.principal import Role
from tests.conftest import make_settings
from tests.graphql import error_codes
from tests.traffic.support import APQ_PREFIX, GRAPHQL_RESPONSE, Apps, get, only_error, post


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def persisted(digest: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


def unique_query() -> str:
    """A document no other test (or earlier run) has registered."""
    return f"query Unique {{ t_{uuid.uuid4().hex}: __typename }}"


async def by_hash(
    http: httpx.AsyncClient, digest: str, variables: dict[str, Any] | None = None
) -> httpx.Response:
    payload: dict[str, Any] = {"extensions": persisted(digest)}
    if variables is not None:
        payload["variables"] = variables
    return await http.post("/graphql", json=payload)


class TestAutomaticPersistedQueries:
    async def test_an_unknown_hash_asks_for_the_document(self, admin: httpx.AsyncClient) -> None:
        response = await by_hash(admin, sha256(unique_query()))
        assert response.status_code == 200
        error = only_error(response.json())
        # Apollo Client looks for either of these to send the document
        assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        assert error["message"] == "PersistedQueryNotFound"

    async def test_once_registered_the_hash_alone_runs_the_document(
        self, admin: httpx.AsyncClient
    ) -> None:
        query = unique_query()
        digest = sha256(query)
        registered = await post(admin, query, extensions=persisted(digest))
        assert registered.status_code == 200
        assert "errors" not in registered.json()

        response = await by_hash(admin, digest)

        assert response.json()["data"] == registered.json()["data"]

    async def test_the_hash_alone_runs_with_variables(self, admin: httpx.AsyncClient) -> None:
        query = f"query Page($n: Int) {{ funds(first: $n) {{ totalCount }} }} # {uuid.uuid4()}"
        digest = sha256(query)
        await post(admin, query, {"n": 1}, extensions=persisted(digest))
        response = await by_hash(admin, digest, {"n": 2})
        assert response.json()["data"] == {"funds": {"totalCount": 0}}

    async def test_a_hash_that_does_not_match_the_document_is_refused_and_not_stored(
        self, admin: httpx.AsyncClient
    ) -> None:
        query, other = unique_query(), unique_query()
        response = await post(admin, query, extensions=persisted(sha256(other)))
        assert response.status_code == 400
        error = only_error(response.json())
        assert error["extensions"]["code"] == "BAD_REQUEST"
        assert "does not match" in error["message"]
        # the other document's hash still names nothing
        assert error_codes((await by_hash(admin, sha256(other))).json()) == [
            "PERSISTED_QUERY_NOT_FOUND"
        ]

    @pytest.mark.parametrize(
        "extension",
        [
            {"version": 2, "sha256Hash": "0" * 64},
            {"version": 1, "sha256Hash": "not-a-hash"},
            {"version": 1, "sha256Hash": "A" * 64},
            {"version": 1},
            "a string",
        ],
    )
    async def test_a_malformed_persisted_query_is_a_bad_request(
        self, admin: httpx.AsyncClient, extension: Any
    ) -> None:
        response = await admin.post("/graphql", json={"extensions": {"persistedQuery": extension}})
        assert response.status_code == 400
        assert error_codes(response.json()) == ["BAD_REQUEST"]

    async def test_persisted_queries_work_over_get(self, admin: httpx.AsyncClient) -> None:
        query = unique_query()
        extensions = json.dumps(persisted(sha256(query)))

        unknown = await get(admin, {"extensions": extensions})
        assert error_codes(unknown.json()) == ["PERSISTED_QUERY_NOT_FOUND"]

        registered = await get(admin, {"query": query, "extensions": extensions})
        assert "errors" not in registered.json()

        response = await get(admin, {"extensions": extensions})
        assert response.json()["data"] == registered.json()["data"]

        # a GET still needs its preflight header, persisted or not
        refused = await get(admin, {"extensions": extensions}, preflight=False)
        assert refused.status_code == 400

    async def test_a_persisted_mutation_is_never_run_over_get(
        self, admin: httpx.AsyncClient
    ) -> None:
        mutation = f"mutation M{uuid.uuid4().hex} {{ logout {{ ok }} }}"
        digest = sha256(mutation)
        # registering it (over POST) is fine; it runs there
        await post(admin, mutation, extensions=persisted(digest))
        response = await get(admin, {"extensions": json.dumps(persisted(digest))})
        assert response.status_code == 405
        assert error_codes(response.json()) == ["METHOD_NOT_ALLOWED"]

    async def test_a_document_refused_for_its_size_is_not_stored(self, instances: Apps) -> None:
        app = await instances.start(max_document_chars=100)
        http = await instances.client(app, role=None)
        query = unique_query().ljust(5_000)
        digest = sha256(query)
        registering = await post(http, query, extensions=persisted(digest))
        assert error_codes(registering.json()) == ["QUERY_TOO_COMPLEX"]
        # the hash names nothing: it was never stored
        assert error_codes((await by_hash(http, digest)).json()) == ["PERSISTED_QUERY_NOT_FOUND"]

    async def test_instances_sharing_redis_share_persisted_queries(self, instances: Apps) -> None:
        first = await instances.start(fresh=True, redis_url=instances.redis_url)
        second = await instances.start(fresh=True, redis_url=instances.redis_url)
        query = unique_query()
        digest = sha256(query)
        instances.forget_in_redis(APQ_PREFIX + digest)

        await post(await instances.client(first), query, extensions=persisted(digest))
        response = await by_hash(await instances.client(second), digest)

        assert "errors" not in response.json()
        assert list(response.json()["data"]) == [query.split()[3].removesuffix(":")]


TRUSTED_FUNDS = "query TrustedFunds($first: Int) { funds(first: $first) { totalCount } }"
TRUSTED_TYPENAME = "query TrustedTypename { __typename }"
UNTRUSTED = "query Untrusted { funds { totalCount } }"


def write_manifest(directory: Path, documents: dict[str, str]) -> str:
    path = directory / "persisted-documents.json"
    path.write_text(json.dumps(documents))
    return str(path)


@pytest.fixture
def manifest(tmp_path: Path) -> str:
    """A manifest as graphql-codegen writes it: hash → document."""
    return write_manifest(
        tmp_path,
        {
            sha256(TRUSTED_FUNDS): TRUSTED_FUNDS,
            # some tools prefix the algorithm
            f"sha256:{sha256(TRUSTED_TYPENAME)}": TRUSTED_TYPENAME,
        },
    )


class TestTrustedDocuments:
    async def test_only_documents_of_the_manifest_run(self, instances: Apps, manifest: str) -> None:
        app = await instances.start(trusted_documents_path=manifest, trusted_documents_only=True)
        http = await instances.client(app, role=Role.ANALYST)

        # A manifest document runs by its hash (with variables) or by its text
        response = await by_hash(http, sha256(TRUSTED_FUNDS), {"first": 1})
        assert response.json()["data"] == {"funds": {"totalCount": 0}}
        response = await by_hash(http, sha256(TRUSTED_TYPENAME))
        assert response.json()["data"] == {"__typename": "Query"}
        assert "errors" not in (await post(http, TRUSTED_FUNDS)).json()

        # Any other document is refused
        response = await post(http, UNTRUSTED)
        assert response.status_code == 200
        error = only_error(response.json())
        assert error["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED"
        assert "trusted documents" in error["message"]
        response = await post(http, UNTRUSTED, headers={"Accept": GRAPHQL_RESPONSE})
        assert response.status_code == 400

    async def test_registering_an_automatic_persisted_query_does_not_make_it_trusted(
        self, instances: Apps, manifest: str
    ) -> None:
        app = await instances.start(trusted_documents_path=manifest, trusted_documents_only=True)
        http = await instances.client(app, role=Role.ANALYST)
        query = unique_query()
        digest = sha256(query)

        registering = await post(http, query, extensions=persisted(digest))
        assert error_codes(registering.json()) == ["PERSISTED_QUERY_REQUIRED"]
        # refused before it was stored: the hash names nothing
        assert error_codes((await by_hash(http, digest)).json()) == ["PERSISTED_QUERY_NOT_FOUND"]

    async def test_anonymous_callers_are_held_to_the_manifest_too(
        self, instances: Apps, manifest: str
    ) -> None:
        app = await instances.start(trusted_documents_path=manifest, trusted_documents_only=True)
        http = await instances.client(app, role=None)
        assert error_codes((await post(http, "{ __typename }")).json()) == [
            "PERSISTED_QUERY_REQUIRED"
        ]
        response = await by_hash(http, sha256(TRUSTED_TYPENAME))
        assert response.json()["data"] == {"__typename": "Query"}

    async def test_admins_may_run_other_documents_when_exempt(
        self, instances: Apps, manifest: str
    ) -> None:
        app = await instances.start(trusted_documents_path=manifest, trusted_documents_only=True)
        admin = await instances.client(app, role=Role.ADMIN)
        manager = await instances.client(app, role=Role.MANAGER)

        assert (await post(admin, UNTRUSTED)).json()["data"] == {"funds": {"totalCount": 0}}
        assert error_codes((await post(manager, UNTRUSTED)).json()) == ["PERSISTED_QUERY_REQUIRED"]

    async def test_without_the_exemption_admins_are_held_to_the_manifest(
        self, instances: Apps, manifest: str
    ) -> None:
        app = await instances.start(
            trusted_documents_path=manifest,
            trusted_documents_only=True,
            trusted_documents_admin_exempt=False,
        )
        admin = await instances.client(app, role=Role.ADMIN)
        assert error_codes((await post(admin, UNTRUSTED)).json()) == ["PERSISTED_QUERY_REQUIRED"]
        assert "errors" not in (await by_hash(admin, sha256(TRUSTED_FUNDS))).json()

    async def test_a_manifest_without_trusted_only_just_adds_persisted_documents(
        self, instances: Apps, manifest: str
    ) -> None:
        app = await instances.start(trusted_documents_path=manifest)
        http = await instances.client(app, role=Role.ANALYST)
        response = await by_hash(http, sha256(TRUSTED_TYPENAME))
        assert response.json()["data"] == {"__typename": "Query"}
        assert (await post(http, UNTRUSTED)).json()["data"] == {"funds": {"totalCount": 0}}

    async def test_trusted_documents_are_still_held_to_the_limits(
        self, instances: Apps, manifest: str
    ) -> None:
        # Validated once at start, but the cost and the rate limit apply per request
        app = await instances.start(
            trusted_documents_path=manifest,
            trusted_documents_only=True,
            rate_limit_capacity=2,
            rate_limit_refill_per_second=0,
        )
        http = await instances.client(app, role=Role.ANALYST)
        for _ in range(2):
            assert "errors" not in (await by_hash(http, sha256(TRUSTED_TYPENAME))).json()
        response = await by_hash(http, sha256(TRUSTED_TYPENAME))
        assert error_codes(response.json()) == ["RATE_LIMITED"]


class TestBrokenManifests:
    @pytest.mark.parametrize(
        ("documents", "complaint"),
        [
            pytest.param({"0" * 64: TRUSTED_TYPENAME}, "does not hash to it", id="wrong hash"),
            pytest.param({sha256("{ nope }"): "{ nope }"}, "is not valid", id="invalid document"),
            pytest.param(["not", "an", "object"], "JSON object", id="not an object"),
        ],
    )
    def test_the_server_refuses_to_start_with_a_broken_manifest(
        self, tmp_path: Path, documents: Any, complaint: str
    ) -> None:
        path = tmp_path / "manifest.json"
        path.write_text(json.dumps(documents))
        settings = make_settings(
            f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}",
            trusted_documents_path=str(path),
            trusted_documents_only=True,
        )
        with pytest.raises(ValueError, match=complaint):
            create_app(settings)
