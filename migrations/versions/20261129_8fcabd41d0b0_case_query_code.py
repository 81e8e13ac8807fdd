"""case query code: the keyed hash of the 6-digit query code (查询码) a reporter gets with the
case number, to open the private page from any device

Revision ID: 8fcabd41d0b0
Revises: 613af3b0cabe
Create Date: 2026-11-29 19:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8fcabd41d0b0'
down_revision = '613af3b0cabe'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('query_code_hash', sa.String(length=64), server_default='', nullable=False)
        )


def downgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('query_code_hash')
