"""KPI indexes: cases by creation time, for counting a month's cases

Revision ID: 11580e99f780
Revises: 63267521aa78
Create Date: 2026-11-25 02:38:43.833591

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '11580e99f780'
down_revision = '63267521aa78'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_created_at', ['created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_created_at')
