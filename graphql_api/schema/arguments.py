"""Described argument types shared by every connection field."""

from __future__ import annotations

from typing import Annotated

import strawberry

First = Annotated[
    int | None,
    strawberry.argument(
        description="Return the first n items (0-100; 20 when neither first nor last is given)."
    ),
]
After = Annotated[
    str | None, strawberry.argument(description="Return items after this cursor (an `endCursor`).")
]
Last = Annotated[int | None, strawberry.argument(description="Return the last n items (0-100).")]
Before = Annotated[
    str | None,
    strawberry.argument(description="Return items before this cursor (a `startCursor`)."),
]
