"""two-factor sign-in: TOTP secrets and recovery codes

Revision ID: 4e7bafe06b45
Revises: 958c2c132264
Create Date: 2026-11-29 18:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '4e7bafe06b45'
down_revision = '958c2c132264'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'account_totp',
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('secret', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('enabled_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_step', sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ['account_id'], ['account.id'], name=op.f('fk_account_totp_account_id_account')
        ),
        sa.PrimaryKeyConstraint('account_id', name=op.f('pk_account_totp')),
    )
    op.create_table(
        'account_recovery_code',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ['account_id'],
            ['account.id'],
            name=op.f('fk_account_recovery_code_account_id_account'),
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_account_recovery_code')),
        sa.UniqueConstraint(
            'account_id', 'code_hash', name=op.f('uq_account_recovery_code_account_id_code_hash')
        ),
    )
    with op.batch_alter_table('account_recovery_code', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_account_recovery_code_account_id'), ['account_id'], unique=False
        )


def downgrade():
    with op.batch_alter_table('account_recovery_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_recovery_code_account_id'))
    op.drop_table('account_recovery_code')
    op.drop_table('account_totp')
