"""a dispatcher's 待办 reads its own index (SQLite)

待办 (to accept, to dispatch, to verify, or an extension to decide) is every dispatcher's
first screen. Its condition is an OR of a state list and the extension flag, which no
index served: its capped count read the table until it found 1,001 cases (10-25 ms at a
million on PostgreSQL, more on SQLite). SQLite only: PostgreSQL took the same index for
待核查 (resolved cases, which have no deadline, so sit last in it) and read all of it
(0.3 -> 300 ms at a million). A partial index of the queue's order holding only
its cases (thousands over three states: in the queue's order without the state); the query repeats the condition with literals (portal/services/queues.py).

Revision ID: d3f6b8a1c925
Revises: 9c4e2a7b5d18
Create Date: 2026-11-30 06:25:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "d3f6b8a1c925"
down_revision = "9c4e2a7b5d18"
branch_labels = None
depends_on = None

WHERE = "state IN ('submitted', 'accepted', 'resolved') OR extension_minutes IS NOT NULL"
ORDER = [
    "held",
    "(attention_at IS NULL)",
    "(next_due_at IS NULL)",
    "next_due_at",
    "created_at",
]


def upgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    op.create_index(
        "ix_cases_todo_queue",
        "cases",
        [sa.text(c) if c.startswith("(") else c for c in ORDER],
        sqlite_where=sa.text(WHERE),
    )
    op.execute("ANALYZE cases")  # SQLite plans with the statistics it has


def downgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    op.drop_index("ix_cases_todo_queue", table_name="cases")
