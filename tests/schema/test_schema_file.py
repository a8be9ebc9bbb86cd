"""`schema.graphql` is the exported SDL: reviewed, committed, never stale."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner
from graphql import build_schema as parse_sdl

from graphql_api.cli import main

# Issue 4 fixes these signatures: login(email, password) and
# refreshToken(refreshToken) both return AuthPayload.
IDENTITY_CONTRACT = {"login", "refreshToken"}
# Issue 7 fixes this one: createInvestments(inputs: [CreateInvestmentInput!]!, atomic, …).
BULK_CONTRACT = {"createInvestments": "[CreateInvestmentInput!]!"}


class TestCommittedSchema:
    def test_matches_the_schema_the_code_builds(self, repo_root: Path) -> None:
        # When the schema is exported from the code
        result = CliRunner().invoke(main, ["export-schema"])

        # Then it is exactly the committed file
        assert result.exit_code == 0, result.output
        committed = (repo_root / "schema.graphql").read_text()
        assert result.output == committed, "schema.graphql is stale: run `make schema`"

    def test_documents_every_type_field_argument_and_enum_value(self, repo_root: Path) -> None:
        schema = parse_sdl((repo_root / "schema.graphql").read_text())
        undocumented = []
        for name, graphql_type in schema.type_map.items():
            if name.startswith("__") or name in {"String", "Int", "Float", "Boolean", "ID"}:
                continue
            if not graphql_type.description:
                undocumented.append(name)
            for field_name, field in getattr(graphql_type, "fields", {}).items():
                if not field.description:
                    undocumented.append(f"{name}.{field_name}")
                for arg_name, arg in getattr(field, "args", {}).items():
                    if not arg.description:
                        undocumented.append(f"{name}.{field_name}({arg_name})")
            for value_name, value in getattr(graphql_type, "values", {}).items():
                if not value.description:
                    undocumented.append(f"{name}.{value_name}")
        assert undocumented == []

    def test_follows_the_naming_conventions(self, repo_root: Path) -> None:
        schema = parse_sdl((repo_root / "schema.graphql").read_text())
        for name, graphql_type in schema.type_map.items():
            if name.startswith("__"):
                continue
            assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", name), name
            for field_name in getattr(graphql_type, "fields", {}):
                assert re.fullmatch(r"[a-z][A-Za-z0-9]*", field_name), f"{name}.{field_name}"
            for value_name in getattr(graphql_type, "values", {}):
                assert re.fullmatch(r"[A-Z][A-Z0-9_]*", value_name), f"{name}.{value_name}"
        mutation = schema.mutation_type
        assert mutation is not None
        for field_name, field in mutation.fields.items():
            if field_name in IDENTITY_CONTRACT:
                assert str(field.type) == "AuthPayload!", field_name
                continue
            payload = str(field.type).rstrip("!")
            assert payload == field_name[0].upper() + field_name[1:] + "Payload"
            if field_name in BULK_CONTRACT:
                assert str(field.args["inputs"].type) == BULK_CONTRACT[field_name]
                continue
            assert (
                str(field.args["input"].type).rstrip("!")
                == payload.removesuffix("Payload") + "Input"
            )
