"""KPI versions: past months' counts cached until their records change

Revision ID: 3f01df5a1d94
Revises: b24a224fc596
Create Date: 2026-11-25 04:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3f01df5a1d94'
down_revision = 'b24a224fc596'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'kpi_version',
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('month', name=op.f('pk_kpi_version')),
    )


def downgrade():
    op.drop_table('kpi_version')
