"""search head terms: the bigrams of a case's number and address indexed on their own, so
that the best tier of a search (a match in the number or address) is an index lookup

PostgreSQL: a GIN index on `case_search_bigrams(head)`, an SQL function giving the same
terms as `search_index.terms()`. SQLite: an FTS5 table `case_search_fts_head` whose rows
(rowid = case id) the search index code keeps; filled here for the cases already there.

Revision ID: 3b8d6f1a2c47
Revises: b8d2f4a61c07
Create Date: 2026-11-30 02:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "3b8d6f1a2c47"
down_revision = "b8d2f4a61c07"
branch_labels = None
depends_on = None


def upgrade():
    from portal.services import search_index

    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(search_index.PG_BIGRAMS_FUNCTION)
        op.create_index(
            "ix_case_search_head_terms",
            "case_search",
            [sa.text("case_search_bigrams(head)")],
            postgresql_using="gin",
        )
        return
    op.execute(search_index.SQLITE_HEAD_FTS)
    last = 0
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT case_id, head FROM case_search WHERE case_id > :last "
                "ORDER BY case_id LIMIT 20000"
            ),
            {"last": last},
        ).all()
        if not rows:
            break
        bind.execute(
            sa.text("INSERT INTO case_search_fts_head(rowid, terms) VALUES (:id, :terms)"),
            [{"id": i, "terms": " ".join(search_index.terms(head))} for i, head in rows],
        )
        last = rows[-1][0]


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.drop_index("ix_case_search_head_terms", table_name="case_search")
        op.execute("DROP FUNCTION IF EXISTS case_search_bigrams(text)")
    else:
        op.execute("DROP TABLE IF EXISTS case_search_fts_head")
