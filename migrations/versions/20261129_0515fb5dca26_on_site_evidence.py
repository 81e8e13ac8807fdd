"""on-site evidence: the phone's position, accuracy and fix time, photos' EXIF findings, staff
review of flagged reports, and supervisors' checks on site (核查) with their photos

Revision ID: 0515fb5dca26
Revises: 4e7bafe06b45
Create Date: 2026-11-29 18:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0515fb5dca26'
down_revision = '4e7bafe06b45'
branch_labels = None
depends_on = None


def _evidence_columns():
    """The columns every report and check carries (OnSiteEvidence)."""
    return [
        sa.Column('accuracy_m', sa.Float(), nullable=True),
        sa.Column('position_at', sa.DateTime(timezone=True), nullable=True),
        # Reports filed before this revision carry no evidence: they read as not typed.
        sa.Column('position_typed', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('position_received_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('flagged', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('review_reasons', sa.JSON(), server_default='[]', nullable=False),
        sa.Column('review_note', sa.Text(), server_default='', nullable=False),
        sa.Column('rejected_by_id', sa.Integer(), nullable=True),
        sa.Column('rejected_at', sa.DateTime(timezone=True), nullable=True),
    ]


def _photo_columns():
    """The columns every evidence photo carries (PhotoEvidence)."""
    return [
        sa.Column('exif_found', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('exif_taken_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('exif_distance_m', sa.Float(), nullable=True),
    ]


def upgrade():
    with op.batch_alter_table('inspection', schema=None) as batch_op:
        for column in _evidence_columns():
            batch_op.add_column(column)
        batch_op.create_foreign_key(
            batch_op.f('fk_inspection_rejected_by_id_account'), 'account', ['rejected_by_id'], ['id']
        )
    with op.batch_alter_table('inspection_photo', schema=None) as batch_op:
        for column in _photo_columns():
            batch_op.add_column(column)
    op.create_table(
        'site_check',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('supervisor_id', sa.Integer(), nullable=False),
        sa.Column('action', sa.String(length=10), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('lat', sa.Float(), nullable=False),
        sa.Column('lng', sa.Float(), nullable=False),
        sa.Column('distance_m', sa.Float(), nullable=True),
        sa.Column('off_site', sa.Boolean(), nullable=False),
        sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('confirmed_by_id', sa.Integer(), nullable=True),
        sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        *_evidence_columns(),
        sa.CheckConstraint("action IN ('close', 'rework')", name=op.f('ck_site_check_action')),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_site_check_case_id_cases')),
        sa.ForeignKeyConstraint(
            ['supervisor_id'], ['account.id'], name=op.f('fk_site_check_supervisor_id_account')
        ),
        sa.ForeignKeyConstraint(
            ['confirmed_by_id'], ['account.id'], name=op.f('fk_site_check_confirmed_by_id_account')
        ),
        sa.ForeignKeyConstraint(
            ['rejected_by_id'], ['account.id'], name=op.f('fk_site_check_rejected_by_id_account')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_site_check')),
    )
    with op.batch_alter_table('site_check', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_site_check_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_site_check_supervisor_id'), ['supervisor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_site_check_created_at'), ['created_at'], unique=False)
    op.create_table(
        'site_check_photo',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('check_id', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('width', sa.Integer(), nullable=False),
        sa.Column('height', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        *_photo_columns(),
        sa.ForeignKeyConstraint(
            ['check_id'], ['site_check.id'], name=op.f('fk_site_check_photo_check_id_site_check')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_site_check_photo')),
    )
    with op.batch_alter_table('site_check_photo', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_site_check_photo_check_id'), ['check_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_site_check_photo_sha256'), ['sha256'], unique=False)


def downgrade():
    with op.batch_alter_table('site_check_photo', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_site_check_photo_sha256'))
        batch_op.drop_index(batch_op.f('ix_site_check_photo_check_id'))
    op.drop_table('site_check_photo')
    with op.batch_alter_table('site_check', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_site_check_created_at'))
        batch_op.drop_index(batch_op.f('ix_site_check_supervisor_id'))
        batch_op.drop_index(batch_op.f('ix_site_check_case_id'))
    op.drop_table('site_check')
    with op.batch_alter_table('inspection_photo', schema=None) as batch_op:
        for column in reversed(_photo_columns()):
            batch_op.drop_column(column.name)
    with op.batch_alter_table('inspection', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_inspection_rejected_by_id_account'), type_='foreignkey')
        for column in reversed(_evidence_columns()):
            batch_op.drop_column(column.name)
