"""Logging set-up: readable lines in development, one JSON object per line in production.

Every record gets the request's context (request id, trace id, operation,
principal) from `observability.context`, and passes through redaction: its
message, arguments, extra fields and exception text never carry a secret.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from graphql_api.observability import context
from graphql_api.observability.redaction import redact, redact_text
from graphql_api.settings import Settings

# Set with `extra={UNREDACTED: True}` by the one caller that must log a secret on
# purpose: development's LogMailer, whose links are how a developer signs up.
UNREDACTED = "unredacted"
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    UNREDACTED,
}


class ContextFilter(logging.Filter):
    """Stamp the request's fields on each record (explicit `extra=` wins) and redact."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in context.current().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        if getattr(record, UNREDACTED, False):
            return True
        if isinstance(record.msg, str):
            record.msg = redact_text(record.msg)
        if record.args:
            record.args = tuple(
                redact(arg) if isinstance(arg, (str, dict, list, tuple)) else arg
                for arg in (record.args if isinstance(record.args, tuple) else (record.args,))
            )
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRIBUTES:
                setattr(record, key, redact(value, key))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with the context and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(
            (key, value) for key, value in vars(record).items() if key not in _STANDARD_ATTRIBUTES
        )
        if record.exc_info:
            entry["exception"] = redact_text(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


class ConsoleFormatter(logging.Formatter):
    """`time level logger message key=value…` for people reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = [
            f"{key}={value}"
            for key, value in vars(record).items()
            if key not in _STANDARD_ATTRIBUTES and value is not None
        ]
        line = f"{line} [{' '.join(fields)}]" if fields else line
        return redact_text(line) if record.exc_info else line

    def formatException(self, ei: Any) -> str:  # noqa: N802 (logging's name)
        return redact_text(super().formatException(ei))


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    use_json = settings.log_format == "json" or (
        settings.log_format is None and settings.is_production
    )
    handler.setFormatter(JsonFormatter() if use_json else ConsoleFormatter())
    handler.addFilter(ContextFilter())
    handler.graphql_api = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    # Replace our previous handler (another app in this process), keep anyone else's.
    root.handlers[:] = [h for h in root.handlers if not getattr(h, "graphql_api", False)]
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # One access line per operation comes from graphql_api.access; uvicorn's own
    # access log would only repeat it without the request's context.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
