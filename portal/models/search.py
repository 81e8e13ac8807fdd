"""The text search index of cases: one row per case, kept with the text it covers."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base

# PostgreSQL keeps the terms as a tsvector ('simple' configuration, GIN index); SQLite keeps
# them as text that the FTS5 table `case_search_fts` indexes (external content, triggers).
Terms = Text().with_variant(TSVECTOR(), "postgresql")


class CaseSearch(Base):
    """A case's searchable text, lower-cased, and its character-bigram terms.

    `head` is the case number and address, `body` the description and public replies,
    `notes` the internal notes (staff only). The terms give candidates; the text is what a
    candidate is checked against, so that a search finds exactly what a substring scan would.
    """

    __tablename__ = "case_search"
    # GIN indexes of the terms on PostgreSQL; SQLite's index is the FTS5 table.
    __table_args__ = (
        Index("ix_case_search_public_terms", "public_terms", postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
        Index("ix_case_search_staff_terms", "staff_terms", postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
        # The number and address alone (a search's best tier); SQLite: `case_search_fts_head`.
        Index(
            "ix_case_search_head_terms", text("case_search_bigrams(head)"), postgresql_using="gin"
        ).ddl_if(dialect="postgresql"),
    )

    case_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    head: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    public_terms: Mapped[str] = mapped_column(Terms, default="")
    staff_terms: Mapped[str] = mapped_column(Terms, default="")
