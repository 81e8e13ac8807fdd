"""category facility state: the state a case of a category puts its facility in while it is
open (丢失 for a missing cover, 破损 for a broken one), '' for none

Revision ID: c4a7e2f19d3b
Revises: a7c3e915d2b4
Create Date: 2026-11-29 22:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "c4a7e2f19d3b"
down_revision = "a7c3e915d2b4"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("category", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("facility_state", sa.String(length=10), server_default="", nullable=False)
        )
        batch_op.create_check_constraint(
            "facility_state", "facility_state IN ('', 'damaged', 'missing', 'occupied')"
        )


def downgrade():
    with op.batch_alter_table("category", schema=None) as batch_op:
        batch_op.drop_constraint("ck_category_facility_state", type_="check")
        batch_op.drop_column("facility_state")
