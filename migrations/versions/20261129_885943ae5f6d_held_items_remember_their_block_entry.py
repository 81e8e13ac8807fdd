"""Held cases, comments and suggestions remember the block-list entry that held them

Revision ID: 885943ae5f6d
Revises: 3f01df5a1d94
Create Date: 2026-11-29 18:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '885943ae5f6d'
down_revision = '3f01df5a1d94'
branch_labels = None
depends_on = None

TABLES = ('cases', 'consultation_comment', 'suggestion')


def upgrade():
    # Items held before this revision keep a NULL entry: the sender's address was never stored.
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('blocked_sender_id', sa.Integer(), nullable=True))
            batch_op.create_index(batch_op.f(f'ix_{table}_blocked_sender_id'), ['blocked_sender_id'], unique=False)
            batch_op.create_foreign_key(
                batch_op.f(f'fk_{table}_blocked_sender_id_blocked_sender'),
                'blocked_sender', ['blocked_sender_id'], ['id'], ondelete='SET NULL',
            )


def downgrade():
    for table in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f'fk_{table}_blocked_sender_id_blocked_sender'), type_='foreignkey')
            batch_op.drop_index(batch_op.f(f'ix_{table}_blocked_sender_id'))
            batch_op.drop_column('blocked_sender_id')
