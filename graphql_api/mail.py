"""Outgoing mail: SMTP (aiosmtplib) when SMTP_URL is set, the log in the embedded mode."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib

from graphql_api.observability.logging import UNREDACTED

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    body: str


class Mailer(Protocol):
    async def send(self, mail: Mail) -> None: ...


class LogMailer:
    """Writes each mail to the log (the embedded mode has no mail server).

    Mails carry single-use secrets (reset and verification links), so with
    `include_body=False` (production without SMTP_URL) only the fact that a
    mail could not be sent is logged, at WARNING: an operator sees the
    misconfiguration, and nobody reading the logs can take over an account.
    """

    def __init__(self, include_body: bool = True) -> None:
        self._include_body = include_body

    async def send(self, mail: Mail) -> None:
        if self._include_body:
            # Unredacted: the link in the body is what the developer needs.
            logger.info(
                "mail to %s: %s\n%s", mail.to, mail.subject, mail.body, extra={UNREDACTED: True}
            )
        else:
            logger.warning("mail %r not sent: set SMTP_URL to deliver mail", mail.subject)


class SmtpMailer:
    """`smtp://user:password@host:port` (plain or STARTTLS) or `smtps://…` (implicit TLS)."""

    def __init__(self, url: str, sender: str, timeout_seconds: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP_URL must look like smtp://user:password@host:587")
        self._host = parts.hostname
        self._port = parts.port or (465 if parts.scheme == "smtps" else 25)
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._implicit_tls = parts.scheme == "smtps"
        self._sender = sender
        self._timeout = timeout_seconds

    async def send(self, mail: Mail) -> None:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message.set_content(mail.body)
        await aiosmtplib.send(
            message,
            hostname=self._host,
            port=self._port,
            username=self._username,
            password=self._password,
            use_tls=self._implicit_tls,
            start_tls=None if not self._implicit_tls else False,
            timeout=self._timeout,
        )
