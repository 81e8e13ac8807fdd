"""a facility type's default owner department, for facilities no routing rule names

Revision ID: a7c3e915d2b4
Revises: fceb48898ef5
Create Date: 2026-11-29 22:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "a7c3e915d2b4"
down_revision = "fceb48898ef5"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("facility_type", schema=None) as batch_op:
        batch_op.add_column(sa.Column("department_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_facility_type_department_id_department"),
            "department",
            ["department_id"],
            ["id"],
        )


def downgrade():
    with op.batch_alter_table("facility_type", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_facility_type_department_id_department"), type_="foreignkey"
        )
        batch_op.drop_column("department_id")
