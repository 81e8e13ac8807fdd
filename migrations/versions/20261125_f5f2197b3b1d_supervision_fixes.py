"""supervision fixes: suspensions, agreement to the code of conduct, list renewals, draft save times, who ran a draw, the 48-hour policy of findings

Revision ID: f5f2197b3b1d
Revises: ce7da196f365
Create Date: 2026-11-25 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# Supervisors' findings are answered within 48 hours, as the city requires, in calendar time at
# every priority; the fix is due within 7 days.
INSPECTION_POLICY = ('inspection', '监督员发现问题时限', 'Supervisor findings')
RESPOND_MINUTES, RESOLVE_MINUTES = 48 * 60, 7 * 24 * 60
PRIORITIES = ('urgent', 'high', 'normal', 'low')
sla_policy = sa.table(
    'sla_policy',
    sa.column('id', sa.Integer),
    sa.column('code', sa.String),
    sa.column('name_zh', sa.String),
    sa.column('name_en', sa.String),
    sa.column('working_time', sa.Boolean),
)
sla_target = sa.table(
    'sla_target',
    sa.column('policy_id', sa.Integer),
    sa.column('priority', sa.String),
    sa.column('respond_minutes', sa.Integer),
    sa.column('resolve_minutes', sa.Integer),
)

# revision identifiers, used by Alembic.
revision = 'f5f2197b3b1d'
down_revision = 'ce7da196f365'
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
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('suspended_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('suspension_reason', sa.Text(), server_default='', nullable=False))
    with op.batch_alter_table('supervisor_application', schema=None) as batch_op:
        batch_op.add_column(sa.Column('agreed_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('spot_check_round', schema=None) as batch_op:
        batch_op.add_column(sa.Column('run_by_label', sa.String(length=255), server_default='', nullable=False))
    _insert_inspection_policy(op.get_bind())


def _insert_inspection_policy(connection):
    code, name_zh, name_en = INSPECTION_POLICY
    find = sa.select(sla_policy.c.id).where(sla_policy.c.code == code)
    if connection.execute(find).scalar() is not None:
        return
    connection.execute(
        sla_policy.insert().values(code=code, name_zh=name_zh, name_en=name_en, working_time=False)
    )
    policy_id = connection.execute(find).scalar_one()
    connection.execute(
        sla_target.insert(),
        [
            {
                'policy_id': policy_id,
                'priority': priority,
                'respond_minutes': RESPOND_MINUTES,
                'resolve_minutes': RESOLVE_MINUTES,
            }
            for priority in PRIORITIES
        ],
    )


def downgrade():
    # The policy stays: cases may already count their deadlines from it.
    with op.batch_alter_table('spot_check_round', schema=None) as batch_op:
        batch_op.drop_column('run_by_label')
    with op.batch_alter_table('supervisor_application', schema=None) as batch_op:
        batch_op.drop_column('agreed_at')
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_column('suspension_reason')
        batch_op.drop_column('suspended_at')
    with op.batch_alter_table('inspection', schema=None) as batch_op:
        batch_op.drop_column('saved_at')
    with op.batch_alter_table('list_entry', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_list_entry_renewed_by_id_account'), type_='foreignkey')
        batch_op.drop_column('renewal_reason')
        batch_op.drop_column('renewed_at')
        batch_op.drop_column('renewed_by_id')
