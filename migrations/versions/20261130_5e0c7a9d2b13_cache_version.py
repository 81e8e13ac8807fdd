"""cache versions: a counter per worker cache, bumped in the transaction of the change

The queue page read the categories, zones, departments, SLA policies, routing rules and the
calendar on every request (6-8 of its statements). Each worker now keeps them in memory and
reads them again when the "reference" row of `cache_version` moved: every change to those
tables bumps it in its own transaction (portal/services/reference.py), so every worker and
node sees the change as soon as it commits. The row is created by the first bump.

Revision ID: 5e0c7a9d2b13
Revises: 3b8d6f1a2c47
Create Date: 2026-11-30 06:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "5e0c7a9d2b13"
down_revision = "3b8d6f1a2c47"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "cache_version",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cache_version")),
    )


def downgrade():
    op.drop_table("cache_version")
