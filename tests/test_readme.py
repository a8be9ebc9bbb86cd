"""Every GraphQL example in the README runs, in order, without errors."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from graphql_api.db.session import Database
from graphql_api.seeding import generator, writer
from tests.graphql import execute

EXAMPLE = re.compile(r"```graphql\n(.*?)```", re.DOTALL)


def readme_examples(repo_root: Path) -> list[str]:
    """The examples of the "Try it in GraphiQL" section (others show placeholders)."""
    text = (repo_root / "README.md").read_text()
    section = text.split("## Try it in GraphiQL", 1)[1].split("\n## ", 1)[0]
    return EXAMPLE.findall(section)


class TestReadmeExamples:
    async def test_every_example_runs_against_the_demo_data(
        self, client: httpx.AsyncClient, db: Database, repo_root: Path
    ) -> None:
        # Given the demo data set
        today = datetime.now(UTC).date()
        await writer.write(db.engine, generator.generate(generator.DEMO, seed=42, today=today))
        examples = readme_examples(repo_root)
        assert len(examples) >= 8
        created: dict[str, Any] = {}

        for document in examples:
            # When each example runs, with variables taken from what earlier ones created
            variables = {
                "after": None,
                "fundId": created.get("fund", {}).get("id"),
                "investorId": created.get("investor", {}).get("id"),
                "id": created.get("fund", {}).get("id"),
                "version": created.get("fund", {}).get("version"),
            }
            body = await execute(client, document, variables)

            # Then it succeeds, and mutations report no user errors
            assert "errors" not in body, (document, body)
            for payload in body["data"].values():
                if isinstance(payload, dict) and "errors" in payload:
                    assert payload["errors"] == [], (document, payload)
                    for name, record in payload.items():
                        if name != "errors":
                            created.setdefault(name, {}).update(record)
            assert any(value for value in body["data"].values()), document
