"""pending photos: checked photos of a report form kept across its errors, tied to the form's
token and to no case, purged after a day

Revision ID: 613af3b0cabe
Revises: eeb9b0f4708b
Create Date: 2026-11-29 18:50:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "613af3b0cabe"
down_revision = "eeb9b0f4708b"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "pending_photo",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("form_token", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("gps_lat", sa.Float(), nullable=True),
        sa.Column("gps_lng", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_photo")),
    )
    with op.batch_alter_table("pending_photo", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pending_photo_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_pending_photo_form_token"), ["form_token"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_pending_photo_sha256"), ["sha256"], unique=False)


def downgrade():
    with op.batch_alter_table("pending_photo", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pending_photo_sha256"))
        batch_op.drop_index(batch_op.f("ix_pending_photo_form_token"))
        batch_op.drop_index(batch_op.f("ix_pending_photo_created_at"))
    op.drop_table("pending_photo")
