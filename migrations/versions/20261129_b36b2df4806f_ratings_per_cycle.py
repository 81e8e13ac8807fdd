"""ratings per resolution cycle: a case's cycle number and one rating row per cycle; the
ratings already given move into the cycle they were given in (the first, for all but cases
reopened before they were rated)

Revision ID: b36b2df4806f
Revises: 8fcabd41d0b0
Create Date: 2026-11-29 19:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "b36b2df4806f"
down_revision = "8fcabd41d0b0"
branch_labels = None
depends_on = None

REWORK = "e.case_id = c.id AND e.kind IN ('reopened', 'rework')"


def upgrade():
    op.create_table(
        "case_rating",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("rating", sa.String(length=20), nullable=False),
        sa.Column("comment", sa.Text(), server_default="", nullable=False),
        sa.Column("case_state", sa.String(length=20), server_default="closed", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "rating IN ('satisfied', 'basically_satisfied', 'dissatisfied')",
            name=op.f("ck_case_rating_rating"),
        ),
        sa.CheckConstraint(
            "case_state IN ('resolved', 'closed')", name=op.f("ck_case_rating_case_state")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_rating_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_rating")),
        sa.UniqueConstraint("case_id", "cycle", name=op.f("uq_case_rating_case_id_cycle")),
    )
    with op.batch_alter_table("case_rating", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_rating_case_id"), ["case_id"], unique=False)
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cycle", sa.Integer(), server_default="1", nullable=False))

    move_ratings(op.get_bind())


def move_ratings(connection):
    """Number each case's cycle and put each rating given so far into its cycle."""
    # Every rework so far (by staff or by the resident) started a new cycle.
    cycles = "UPDATE cases SET cycle = 1 + (SELECT count(*) FROM case_event e WHERE {})"
    connection.execute(sa.text(cycles.format(REWORK.replace("c.id", "cases.id"))))
    # A rating counts in the cycle it was given in; its comment is the body of the latest
    # "rated" event (a dissatisfied rating's reopening has the same moment, hence "<").
    connection.execute(
        sa.text(
            "INSERT INTO case_rating (case_id, cycle, rating, comment, case_state, created_at) "
            "SELECT c.id, "
            f"1 + (SELECT count(*) FROM case_event e WHERE {REWORK} "
            "AND e.created_at < COALESCE(c.rated_at, c.updated_at)), "
            "c.rating, "
            "COALESCE((SELECT e.body FROM case_event e WHERE e.case_id = c.id "
            "AND e.kind = 'rated' ORDER BY e.created_at DESC, e.id DESC LIMIT 1), ''), "
            "'closed', COALESCE(c.rated_at, c.updated_at) "
            "FROM cases c WHERE c.rating IS NOT NULL"
        )
    )


def downgrade():
    # Case.rating keeps the latest rating throughout, so dropping the rows loses only the
    # earlier cycles' ratings.
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("cycle")
    with op.batch_alter_table("case_rating", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_rating_case_id"))
    op.drop_table("case_rating")
