"""open311 updates: citizens' updates from other systems stored once per update_id, the
reporter's account_id of a posted case, and per key whether the portal mails its reporters

Revision ID: eeb9b0f4708b
Revises: 8f3b77c5e171
Create Date: 2026-11-29 18:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'eeb9b0f4708b'
down_revision = '8f3b77c5e171'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('mail_reporters', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('account_id', sa.String(length=255), server_default='', nullable=False)
        )
    with op.batch_alter_table('case_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('api_key_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('external_id', sa.String(length=255), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_case_event_api_key_id_api_key'), 'api_key', ['api_key_id'], ['id']
        )
        batch_op.create_unique_constraint(
            batch_op.f('uq_case_event_api_key_id_external_id'), ['api_key_id', 'external_id']
        )


def downgrade():
    with op.batch_alter_table('case_event', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_case_event_api_key_id_external_id'), type_='unique')
        batch_op.drop_constraint(batch_op.f('fk_case_event_api_key_id_api_key'), type_='foreignkey')
        batch_op.drop_column('external_id')
        batch_op.drop_column('api_key_id')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('account_id')
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.drop_column('mail_reporters')
