"""queue indexes led by the attention flag: page 1 of every view reads a page

The queues order by `attention_at IS NULL` first (a resident's news raises a case), then the
next deadline. The indexes of 5e4c1d2a9b18 started at the deadline, so every view page
sorted all its cases; these replace them with the same columns behind the attention flag.

Revision ID: 7a1e5c0d3f62
Revises: 5e4c1d2a9b18
Create Date: 2026-11-29 23:20:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "7a1e5c0d3f62"
down_revision = "5e4c1d2a9b18"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_cases_queue", ["held"]),
    ("ix_cases_state_queue", ["state", "held"]),
    ("ix_cases_department_queue", ["department_id", "held"]),
)
ORDER = ["(next_due_at IS NULL)", "next_due_at", "created_at"]


def _create(attention: bool) -> None:
    lead = [sa.text("(attention_at IS NULL)")] if attention else []
    for name, first in INDEXES:
        order = [sa.text(c) if c.startswith("(") else c for c in ORDER]
        op.create_index(name, "cases", [*first, *lead, *order])


def _drop() -> None:
    for name, _first in INDEXES:
        op.drop_index(name, table_name="cases")


def upgrade():
    _drop()
    _create(attention=True)
    if op.get_bind().dialect.name != "postgresql":
        op.execute("ANALYZE cases")  # SQLite plans with the statistics it has


def downgrade():
    _drop()
    _create(attention=False)
