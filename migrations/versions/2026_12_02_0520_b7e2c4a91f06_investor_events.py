"""Investor events: an outbox event need not belong to a fund.

Deleting or restoring an investor is an event about the investor alone, so
`outbox_events.fund_id` becomes nullable. The downgrade drops those events,
which the older schema cannot hold.

Revision ID: b7e2c4a91f06
Revises: 5d1e7a3c9b20
Create Date: 2026-12-02 05:20:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b7e2c4a91f06"
down_revision: str | None = "5d1e7a3c9b20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.alter_column("fund_id", existing_type=sa.Uuid(), nullable=True)


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM outbox_events WHERE fund_id IS NULL"))
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.alter_column("fund_id", existing_type=sa.Uuid(), nullable=False)
