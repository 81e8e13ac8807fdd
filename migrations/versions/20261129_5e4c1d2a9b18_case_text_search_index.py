"""case text search index: a row per case with its lower-cased text and its character-bigram
terms (a tsvector under GIN on PostgreSQL, an FTS5 table on SQLite), filled for the cases
already there; an index for the queues' order by next deadline

Revision ID: 5e4c1d2a9b18
Revises: 5e4a1c9d7b20
Create Date: 2026-11-29 22:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '5e4c1d2a9b18'
down_revision = "5e4a1c9d7b20"
branch_labels = None
depends_on = None

NEXT_DUE_SQL = (
    "CASE WHEN state IN ('resolved', 'closed', 'rejected', 'duplicate') THEN NULL "
    "WHEN responded_at IS NULL THEN respond_due_at ELSE resolve_due_at END"
)
SQLITE_FTS = [
    "CREATE VIRTUAL TABLE case_search_fts USING fts5("
    "public_terms, staff_terms, content='case_search', content_rowid='case_id')",
    "CREATE TRIGGER case_search_ai AFTER INSERT ON case_search BEGIN "
    "INSERT INTO case_search_fts(rowid, public_terms, staff_terms) "
    "VALUES (new.case_id, new.public_terms, new.staff_terms); END",
    "CREATE TRIGGER case_search_ad AFTER DELETE ON case_search BEGIN "
    "INSERT INTO case_search_fts(case_search_fts, rowid, public_terms, staff_terms) "
    "VALUES ('delete', old.case_id, old.public_terms, old.staff_terms); END",
    "CREATE TRIGGER case_search_au AFTER UPDATE ON case_search BEGIN "
    "INSERT INTO case_search_fts(case_search_fts, rowid, public_terms, staff_terms) "
    "VALUES ('delete', old.case_id, old.public_terms, old.staff_terms); "
    "INSERT INTO case_search_fts(rowid, public_terms, staff_terms) "
    "VALUES (new.case_id, new.public_terms, new.staff_terms); END",
]


def upgrade():
    bind = op.get_bind()
    pg = bind.dialect.name == 'postgresql'
    terms = postgresql.TSVECTOR() if pg else sa.Text()
    op.create_table(
        'case_search',
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('head', sa.Text(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('notes', sa.Text(), nullable=False),
        sa.Column('public_terms', terms, nullable=False),
        sa.Column('staff_terms', terms, nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('case_id'),
    )
    if pg:
        op.create_index(
            'ix_case_search_public_terms', 'case_search', ['public_terms'], postgresql_using='gin'
        )
        op.create_index(
            'ix_case_search_staff_terms', 'case_search', ['staff_terms'], postgresql_using='gin'
        )
    else:
        for statement in SQLITE_FTS:
            op.execute(statement)
    # The queues' order: the next deadline as a generated column, and indexes that read it
    # in order alone, within a state and within a department.
    next_due = sa.Computed(NEXT_DUE_SQL, persisted=True if pg else False)
    op.add_column('cases', sa.Column('next_due_at', sa.DateTime(timezone=True), next_due))
    # `held` follows the first column: the queues leave held cases out, and counting a view
    # then reads the index alone.
    for name, first in (
        ('ix_cases_queue', ['held']),
        ('ix_cases_state_queue', ['state', 'held']),
        ('ix_cases_department_queue', ['department_id', 'held']),
    ):
        op.create_index(
            name, 'cases', [*first, sa.text('(next_due_at IS NULL)'), 'next_due_at', 'created_at']
        )
    # The cases already there get their rows (in batches; the same code as `flask search reindex`).
    from portal.services import search_index

    search_index.reindex(bind)
    if not pg:
        # SQLite plans with the statistics it has: without them it takes the new queue
        # indexes for selective (a category's page then scanned every case by `held`).
        op.execute('ANALYZE')


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        for name in ('case_search_ai', 'case_search_ad', 'case_search_au'):
            op.execute(f'DROP TRIGGER IF EXISTS {name}')
        op.execute('DROP TABLE IF EXISTS case_search_fts')
    op.drop_table('case_search')
    for name in ('ix_cases_queue', 'ix_cases_state_queue', 'ix_cases_department_queue'):
        op.drop_index(name, table_name='cases')
    op.drop_column('cases', 'next_due_at')
