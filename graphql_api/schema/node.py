"""The Relay `Node` interface: every record type has a globally unique `id`."""

from __future__ import annotations

import strawberry


@strawberry.interface(description="An object with a globally unique ID (Relay).")
class Node:
    id: strawberry.ID = strawberry.field(
        description="Globally unique, opaque ID; pass it to `node(id:)` to fetch the object."
    )
