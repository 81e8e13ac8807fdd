"""moderation: redactions, hidden and blurred photos, hidden cases, each with its original
kept; the department charged with each missed clock

Revision ID: 5d2a9c71e4b3
Revises: 5e1f07c2a9d3
Create Date: 2026-11-29 22:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "5d2a9c71e4b3"
down_revision = "5e1f07c2a9d3"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "moderation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("photo_id", sa.Integer(), nullable=True),
        sa.Column("original_text", sa.Text(), server_default="", nullable=False),
        sa.Column("redacted_text", sa.Text(), server_default="", nullable=False),
        sa.Column("original_sha256", sa.String(length=64), nullable=True),
        sa.Column("blurred_sha256", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("undone_by_id", sa.Integer(), nullable=True),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('redact', 'hide_photo', 'blur_photo', 'hide_case')",
            name=op.f("ck_moderation_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_moderation_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["case_event.id"], name=op.f("fk_moderation_event_id_case_event")
        ),
        sa.ForeignKeyConstraint(
            ["photo_id"], ["photo.id"], name=op.f("fk_moderation_photo_id_photo")
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["account.id"], name=op.f("fk_moderation_actor_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["undone_by_id"], ["account.id"], name=op.f("fk_moderation_undone_by_id_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation")),
    )
    with op.batch_alter_table("moderation", schema=None) as batch_op:
        for column in ("case_id", "event_id", "photo_id", "actor_id"):
            batch_op.create_index(batch_op.f(f"ix_moderation_{column}"), [column], unique=False)
        batch_op.create_index(
            batch_op.f("ix_moderation_original_sha256"), ["original_sha256"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_moderation_blurred_sha256"), ["blurred_sha256"], unique=False
        )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("moderated", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("respond_missed_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("resolve_missed_by_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_cases_respond_missed_by_id_department"),
            "department",
            ["respond_missed_by_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_cases_resolve_missed_by_id_department"),
            "department",
            ["resolve_missed_by_id"],
            ["id"],
        )
    with op.batch_alter_table("case_event", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("moderated", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("photo", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("hidden", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade():
    with op.batch_alter_table("photo", schema=None) as batch_op:
        batch_op.drop_column("hidden")
    with op.batch_alter_table("case_event", schema=None) as batch_op:
        batch_op.drop_column("moderated")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_cases_resolve_missed_by_id_department"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_cases_respond_missed_by_id_department"), type_="foreignkey"
        )
        batch_op.drop_column("resolve_missed_by_id")
        batch_op.drop_column("respond_missed_by_id")
        batch_op.drop_column("moderated")
    op.drop_table("moderation")
