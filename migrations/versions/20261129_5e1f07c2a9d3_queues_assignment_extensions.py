"""queues that show all the work: a case's assignee within its department, a pending
extension request (延期申请), and the moment a resident's news raised it for staff

Revision ID: 5e1f07c2a9d3
Revises: 79b26296543a
Create Date: 2026-11-29 22:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "5e1f07c2a9d3"
down_revision = "79b26296543a"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assignee_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("extension_minutes", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("attention_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_cases_assignee_id"), ["assignee_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_attention_at"), ["attention_at"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_cases_assignee_id_account"), "account", ["assignee_id"], ["id"]
        )


def downgrade():
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_cases_assignee_id_account"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_cases_attention_at"))
        batch_op.drop_index(batch_op.f("ix_cases_assignee_id"))
        batch_op.drop_column("attention_at")
        batch_op.drop_column("extension_minutes")
        batch_op.drop_column("assignee_id")
