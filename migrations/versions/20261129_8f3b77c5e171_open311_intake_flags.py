"""Open311 intake: flags for staff, photo links kept unfetched, the sender's device id

Revision ID: 8f3b77c5e171
Revises: 0515fb5dca26
Create Date: 2026-11-29 18:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8f3b77c5e171'
down_revision = '0515fb5dca26'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('flags', sa.JSON(), server_default='[]', nullable=False))
        batch_op.add_column(
            sa.Column('media_links', sa.JSON(), server_default='[]', nullable=False)
        )
        batch_op.add_column(
            sa.Column('reporter_device_id', sa.String(length=100), server_default='', nullable=False)
        )


def downgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('reporter_device_id')
        batch_op.drop_column('media_links')
        batch_op.drop_column('flags')
