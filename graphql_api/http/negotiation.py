"""Pick the response media type from the `Accept` header (GraphQL over HTTP)."""

from __future__ import annotations

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"

_CANDIDATES = {
    GRAPHQL_RESPONSE_JSON: GRAPHQL_RESPONSE_JSON,
    JSON: JSON,
    "application/*": JSON,
    "*/*": JSON,
}


def _quality(parameters: str) -> float:
    for parameter in parameters.split(";"):
        name, _, value = parameter.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return max(0.0, min(1.0, float(value)))
            except ValueError:
                return 0.0
    return 1.0


def response_media_type(accept: str | None) -> str | None:
    """The best media type we can answer with, or None when the client accepts neither.

    No `Accept` header means a legacy client: answer `application/json`. Between
    equally preferred types, the one the client listed first wins.
    """
    if not accept or not accept.strip():
        return JSON
    best: str | None = None
    best_quality = 0.0
    for part in accept.split(",")[:32]:
        media, _, parameters = part.partition(";")
        candidate = _CANDIDATES.get(media.strip().lower())
        quality = _quality(parameters)
        if candidate is not None and quality > best_quality:
            best, best_quality = candidate, quality
    return best
