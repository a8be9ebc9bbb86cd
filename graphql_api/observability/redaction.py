"""Redact secrets wherever they might appear in logs: keys, values and free text.

Keys that name a secret (password, token, secret, authorization, api key…) have
their values replaced, at any depth of a dict or list; bearer tokens, API keys
and JWTs are also masked inside free text (messages, exception texts,
documents), since a careless log call can put them anywhere.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[REDACTED]"
_SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)?|secret|token|authori[sz]ation|api[-_]?key|cookie|credential"
    r"|private[-_]?key|signature",
    re.IGNORECASE,
)
_SECRET_TEXT = [
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + REDACTED),
    (re.compile(r"\bgak_[0-9a-f]{8}_[A-Za-z0-9_-]+"), REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"), REDACTED),
    (
        re.compile(
            r"(?i)([\"']?(?:password|new_?password|current_?password|secret|token|api[-_]?key)"
            r"[\"']?\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s,}&]+)"
        ),
        r"\1" + '"' + REDACTED + '"',
    ),
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), r"\1" + REDACTED + "@"),
]


def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def redact_text(text: str) -> str:
    for pattern, replacement in _SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any, key: str | None = None, depth: int = 0) -> Any:
    """A copy of `value` with secrets replaced (bounded depth: logs are not a parser)."""
    if key is not None and is_secret_key(key) and value is not None:
        return REDACTED
    if depth > 8:
        return "…"
    if isinstance(value, dict):
        return {k: redact(v, str(k), depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(item, None, depth + 1) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value
