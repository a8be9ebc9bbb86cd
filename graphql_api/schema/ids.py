"""Relay global IDs: opaque strings that name a record's type and key.

`Fund:0193…` base64-encoded. Clients must treat them as opaque; the server
decodes them strictly and answers a malformed one as "no such record".
"""

from __future__ import annotations

import binascii
import uuid
from base64 import b64decode, b64encode

MAX_GLOBAL_ID_LENGTH = 128


def to_global_id(type_name: str, key: uuid.UUID) -> str:
    return b64encode(f"{type_name}:{key}".encode()).decode()


def from_global_id(global_id: str) -> tuple[str, uuid.UUID] | None:
    """The (type name, key) in a global ID, or None when it is not one of ours."""
    if len(global_id) > MAX_GLOBAL_ID_LENGTH:
        return None
    try:
        decoded = b64decode(global_id, validate=True).decode("ascii")
        type_name, _, key = decoded.partition(":")
        parsed = uuid.UUID(key)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    # One record, one ID: only the exact form we issue is accepted.
    return (type_name, parsed) if str(parsed) == key else None


def key_of(global_id: str, type_name: str) -> uuid.UUID | None:
    """The key of a global ID of `type_name`; None if malformed or of another type."""
    decoded = from_global_id(global_id)
    if decoded is None or decoded[0] != type_name:
        return None
    return decoded[1]
