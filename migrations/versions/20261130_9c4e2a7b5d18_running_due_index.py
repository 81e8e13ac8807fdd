"""即将超期 on PostgreSQL: the running clocks indexed by their deadline

The view of cases due in the next 24 hours had its deadline window behind the attention
flag in every queue index; PostgreSQL 15 cannot skip-scan, so its page and count read every
overdue entry before the window (43-98 ms at a million cases). A partial index of the
running clocks (not held, not paused) by `next_due_at` makes the window a range, counted
from the index alone. PostgreSQL only: on SQLite an index led by `next_due_at` was taken
for 超期 and made it sort every overdue case.

Revision ID: 9c4e2a7b5d18
Revises: 5e0c7a9d2b13
Create Date: 2026-11-30 06:20:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "9c4e2a7b5d18"
down_revision = "5e0c7a9d2b13"
branch_labels = None
depends_on = None

WHERE = "held = false AND paused_at IS NULL AND next_due_at IS NOT NULL"


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index(
        "ix_cases_running_due", "cases", ["next_due_at"], postgresql_where=sa.text(WHERE)
    )
    op.execute("ANALYZE cases")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_cases_running_due", table_name="cases")
