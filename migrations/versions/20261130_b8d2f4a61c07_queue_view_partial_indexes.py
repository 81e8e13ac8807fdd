"""queue views of a few cases read their own index: paused, reworked, asking for more time,
assigned to me

The views 待补充 (a clock paused for the resident's information), 反弹/返工 (a case in its
second cycle or later) and 延期申请 (an extension asked) hold a few cases among the open ones,
and no index picked them out: their page and count read every open case (600-900 ms at
100,000 cases on SQLite, more when none is in the view). Each now has a partial index of
the queue's order holding only its cases (sorted when a view spans states: a few rows).
我的 (a handler's own cases) read the department's index, every case the department ever
had: the assigned cases get theirs, led by the assignee.

Revision ID: b8d2f4a61c07
Revises: 3c8d1f6a2b47
Create Date: 2026-11-30 01:50:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "b8d2f4a61c07"
down_revision = "3c8d1f6a2b47"
branch_labels = None
depends_on = None

# name: the cases it holds (the same in portal/models/case.py)
INDEXES = {
    "ix_cases_assignee_queue": "assignee_id IS NOT NULL",
    "ix_cases_paused_queue": "paused_at IS NOT NULL",
    "ix_cases_reworked_queue": "cycle > 1",
    "ix_cases_extension_queue": "extension_minutes IS NOT NULL",
}
# The state after `held`: SQLite takes the index with the most equal columns, and would
# read the state index (every open case) for these views' count if this one had fewer.
ORDER = [
    "held",
    "state",
    "(attention_at IS NULL)",
    "(next_due_at IS NULL)",
    "next_due_at",
    "created_at",
]


def upgrade():
    for name, where in INDEXES.items():
        lead = ["assignee_id"] if name == "ix_cases_assignee_queue" else []
        op.create_index(
            name,
            "cases",
            [*lead, *(sa.text(c) if c.startswith("(") else c for c in ORDER)],
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )
    if op.get_bind().dialect.name != "postgresql":
        op.execute("ANALYZE cases")  # SQLite plans with the statistics it has


def downgrade():
    for name in INDEXES:
        op.drop_index(name, table_name="cases")
