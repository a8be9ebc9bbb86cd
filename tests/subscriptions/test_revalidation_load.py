"""Long-lived connections re-check their credentials without a storm, and leak nothing."""

from __future__ import annotations

import asyncio
from typing import Any

from graphql_api.auth.authenticate import Credentials
from graphql_api.auth.principal import Role
from graphql_api.db.session import Database
from tests.conftest import StatementCounter, api_key_for


class TestSharedCredentialChecks:
    async def test_many_connections_on_one_key_check_it_once(
        self, app: Any, db: Database, count_statements: StatementCounter
    ) -> None:
        # Given a thousand subscriptions' worth of connections presenting one API key
        runtime = app.state.runtime
        credentials = Credentials(api_key=await api_key_for(db, Role.ANALYST))
        await count_statements.reset()

        # When they all re-check it at once (an event arrived for all of them)
        principals = await asyncio.gather(
            *(runtime.current_principal(credentials) for _ in range(1000))
        )

        # Then the database is asked once, and everyone gets the answer
        assert len({principal.id for principal in principals}) == 1
        assert principals[0].role is Role.ANALYST
        key_lookups = [s for s in count_statements.statements if "api_keys" in s.lower()]
        assert len([s for s in key_lookups if s.lstrip().upper().startswith("SELECT")]) == 1

    async def test_a_revoked_credential_is_no_principal(self, app: Any, db: Database) -> None:
        runtime = app.state.runtime

        principal = await runtime.current_principal(Credentials(api_key="gak_00000000_nope"))

        assert principal is None
