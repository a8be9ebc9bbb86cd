"""Fixtures of the identity tests: an app that mails through a real SMTP server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from graphql_api.db.session import Database
from tests.conftest import make_settings
from tests.identity.support import Inbox, http_client, running_app, smtp_server


@dataclass(frozen=True)
class MailingApp:
    app: Any
    http: httpx.AsyncClient
    inbox: Inbox


@pytest.fixture
async def mailing_app(
    database_urls: dict[str, str], backend: str, db: Database
) -> AsyncIterator[MailingApp]:
    """The real app with SMTP_URL pointing at an in-process aiosmtpd server.

    It shares the session database of `backend`; `db` empties the tables afterwards.
    """
    async with smtp_server() as (inbox, smtp_url):
        settings = make_settings(database_urls[backend], smtp_url=smtp_url)
        async with running_app(settings) as app, http_client(app) as http:
            yield MailingApp(app, http, inbox)
