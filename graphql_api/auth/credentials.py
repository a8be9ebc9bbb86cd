"""Opaque secrets (refresh tokens, API keys, one-time tokens): made random, stored hashed.

Only a SHA-256 of each secret is stored: 256 random bits need no slow hash,
and a leaked table gives nobody a usable credential.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

API_KEY_PREFIX = "gak"


def new_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def same_digest(secret: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(secret), stored_digest)


def new_api_key() -> tuple[str, str]:
    """(visible prefix, full key). The prefix identifies the key in lists and logs."""
    prefix = f"{API_KEY_PREFIX}_{secrets.token_hex(4)}"
    return prefix, f"{prefix}_{secrets.token_urlsafe(32)}"


def api_key_prefix(key: str) -> str | None:
    """The prefix of a presented key, or None when it does not look like one of ours."""
    parts = key.split("_")
    if len(parts) < 3 or parts[0] != API_KEY_PREFIX or len(parts[1]) != 8 or len(key) > 200:
        return None
    return f"{parts[0]}_{parts[1]}"
