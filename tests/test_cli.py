"""The `graphql-api` command, as an operator uses it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from click.testing import CliRunner
from sqlalchemy import pool, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from graphql_api.cli import main
from graphql_api.db.models import Fund, Investment, Investor
from tests.backends import postgres_url, recreate_postgres_database_sync, sqlite_url
from tests.conftest import WORKER

SIZES = ["--funds", "7", "--investors", "11", "--investments", "57"]


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path, "cli.db")
    url = postgres_url(f"graphql_api_test_cli_{WORKER}")
    recreate_postgres_database_sync(url)
    return url


def run(database_url: str, *args: str) -> str:
    result = CliRunner().invoke(main, list(args), env={"DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    return result.output


def snapshot(database_url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the three tables, ordered by id (timestamps included)."""

    async def read() -> dict[str, list[tuple[object, ...]]]:
        engine = create_async_engine(database_url, poolclass=pool.NullPool)
        try:
            async with engine.connect() as connection:
                return {
                    model.__tablename__: [
                        tuple(row)
                        for row in (
                            await connection.execute(select(model).order_by(model.id))
                        ).all()
                    ]
                    for model in (Fund, Investor, Investment)
                }
        finally:
            await engine.dispose()

    return asyncio.run(read())


class TestSeed:
    def test_inserts_the_requested_numbers_of_rows(self, empty_database: str) -> None:
        output = run(empty_database, "seed", *SIZES)

        rows = snapshot(empty_database)
        assert [len(rows[t]) for t in ("funds", "investors", "investments")] == [7, 11, 57]
        assert "Seeded 7 funds, 11 investors and 57 investments" in output

    def test_the_same_seed_gives_the_same_data(self, tmp_path: Path) -> None:
        first, second = sqlite_url(tmp_path, "a.db"), sqlite_url(tmp_path, "b.db")
        run(first, "seed", *SIZES, "--seed", "7")
        run(second, "seed", *SIZES, "--seed", "7")

        assert snapshot(first) == snapshot(second)

    def test_a_different_seed_gives_different_data(self, tmp_path: Path) -> None:
        first, second = sqlite_url(tmp_path, "a.db"), sqlite_url(tmp_path, "b.db")
        run(first, "seed", *SIZES, "--seed", "1")
        run(second, "seed", *SIZES, "--seed", "2")

        assert snapshot(first) != snapshot(second)

    def test_seeded_commitments_respect_hard_caps_and_totals(self, empty_database: str) -> None:
        run(empty_database, "seed", "--funds", "3", "--investors", "5", "--investments", "200")

        async def violations() -> list[object]:
            engine = create_async_engine(empty_database, poolclass=pool.NullPool)
            try:
                async with engine.connect() as connection:
                    result = await connection.execute(
                        text(
                            "SELECT f.id FROM funds f LEFT JOIN investments i ON i.fund_id = f.id "
                            "GROUP BY f.id, f.committed_cents, f.hard_cap_cents "
                            "HAVING f.committed_cents <> COALESCE(SUM(i.amount_cents), 0) "
                            "OR f.committed_cents > COALESCE(f.hard_cap_cents, f.committed_cents)"
                        )
                    )
                    return list(result.all())
            finally:
                await engine.dispose()

        assert asyncio.run(violations()) == []

    def test_refuses_a_database_that_already_has_data_unless_appending(
        self, tmp_path: Path
    ) -> None:
        url = sqlite_url(tmp_path)
        run(url, "seed", *SIZES)

        refused = CliRunner().invoke(main, ["seed", *SIZES], env={"DATABASE_URL": url})
        assert refused.exit_code != 0
        assert "already has data" in refused.output

        run(url, "seed", *SIZES, "--seed", "99", "--append")
        assert len(snapshot(url)["funds"]) == 14


class TestMigrate:
    def test_upgrades_and_goes_back_to_base(self, empty_database: str) -> None:
        assert "upgrade" in run(empty_database, "migrate")
        assert "downgrade" in run(empty_database, "migrate", "--revision", "base")
        assert "upgrade" in run(empty_database, "migrate", "--revision", "head")


class TestExportSchema:
    def test_writes_the_sdl_to_a_file(self, tmp_path: Path, repo_root: Path) -> None:
        target = tmp_path / "schema.graphql"
        CliRunner().invoke(main, ["export-schema", "--output", str(target)])

        assert target.read_text() == (repo_root / "schema.graphql").read_text()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def embedded_server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`graphql-api serve` with no configuration but a fresh SQLite file and a port."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": sqlite_url(tmp_path, "embedded.db"), "PORT": str(port)}
    server = subprocess.Popen(
        [sys.executable, "-m", "graphql_api", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield base_url, server
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=5)
        if server.stdout is not None:
            server.stdout.close()


class TestServe:
    def test_serves_the_demo_data_on_an_empty_embedded_database(
        self, embedded_server: tuple[str, subprocess.Popen[bytes]]
    ) -> None:
        base_url, server = embedded_server
        # The lines printed before serving: the demo admin and a ready header
        assert server.stdout is not None
        printed = [server.stdout.readline().decode() for _ in range(4)]
        header = orjson.loads(next(line for line in printed if "Authorization" in line))

        graphiql = httpx.get(f"{base_url}/graphql", headers={"Accept": "text/html"}, timeout=5)
        answer = httpx.post(
            f"{base_url}/graphql",
            json={"query": "{ funds { totalCount } investors { totalCount } }"},
            headers=header,
            timeout=5,
        )
        anonymous = httpx.post(
            f"{base_url}/graphql", json={"query": "{ funds { totalCount } }"}, timeout=5
        )

        assert graphiql.status_code == 200
        assert "graphiql" in graphiql.text.lower()
        assert answer.json()["data"]["funds"]["totalCount"] > 0
        assert answer.json()["data"]["investors"]["totalCount"] > 0
        assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert any("Created the demo admin: admin@example.com / " in line for line in printed)

        # uvicorn shuts down gracefully, then re-raises SIGTERM for the parent to see
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=15) in (0, -signal.SIGTERM)
        output = server.stdout.read().decode() if server.stdout else ""
        assert "Finished server process" in output
        assert f"GraphiQL: {base_url}/graphql" in output
