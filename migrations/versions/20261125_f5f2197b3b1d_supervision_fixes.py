"""supervision fixes: list renewals, draft save times

Revision ID: f5f2197b3b1d
Revises: b79d76601f25
Create Date: 2026-11-25 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f5f2197b3b1d'
down_revision = 'b79d76601f25'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('list_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('renewed_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('renewed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('renewal_reason', sa.Text(), server_default='', nullable=False))
        batch_op.create_foreign_key(
            batch_op.f('fk_list_entry_renewed_by_id_account'), 'account', ['renewed_by_id'], ['id']
        )
    with op.batch_alter_table('inspection', schema=None) as batch_op:
        batch_op.add_column(sa.Column('saved_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('inspection', schema=None) as batch_op:
        batch_op.drop_column('saved_at')
    with op.batch_alter_table('list_entry', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_list_entry_renewed_by_id_account'), type_='foreignkey')
        batch_op.drop_column('renewal_reason')
        batch_op.drop_column('renewed_at')
        batch_op.drop_column('renewed_by_id')
