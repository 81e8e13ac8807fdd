"""The text search index of cases: Chinese-aware terms, kept in the writing transaction.

Text is cut into character bigrams: every two neighbouring letters or digits of a run
(井盖缺失 → 井盖 盖缺 缺失; K12+300 → k1 12 30 00). Any substring of two characters or more
of a case's text has all its bigrams in that case's terms, so asking the index for the
cases holding every bigram of a query never misses one; the candidates are then checked
against the text itself, so the result is exactly what a substring scan finds.

PostgreSQL holds the terms as a `tsvector` of the 'simple' configuration under a GIN index,
SQLite in the FTS5 table `case_search_fts`; both get the same terms from `terms()`.

The index is kept by a session hook (`after_flush`): whatever path writes a case's number,
address or description, or an event's text (a new case, a reply, a note, a redaction),
its row is rewritten in the same transaction. Bulk inserts that bypass the ORM (the bench
data) call `reindex()`, as does `flask search reindex`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Select,
    bindparam,
    case,
    column,
    delete,
    event,
    false,
    func,
    insert,
    inspect,
    literal,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.orm import Session

from portal.models import Case, CaseEvent, CaseSearch

# What a term is made of: digits, Latin letters and the CJK scripts. Anything else
# (punctuation, spaces, symbols) separates runs and is left to the exact check.
WORD = re.compile(
    r"[0-9a-z\u00c0-\u024f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+"
)
MAX_QUERY_TERMS = 24  # a long query needs only some of its bigrams to find candidates
BATCH = 2000
REINDEX_CACHE_KIB = -262144  # SQLite's page cache while rebuilding (negative: KiB), 256 MB
# SQLite: the cases whose terms hold every bigram (the query is a bound FTS5 expression).
FTS_CANDIDATES = text("SELECT rowid FROM case_search_fts WHERE case_search_fts MATCH :fts")
# The same FTS5 table to join (SQLite): its matches stream in rowid order, so that a lookup
# under LIMIT stops at its last row, where `IN (SELECT rowid ...)` first lists every posting.
FTS_TABLE = table("case_search_fts", column("rowid", Integer), column("case_search_fts"))
HEAD_CANDIDATES = text(
    "SELECT rowid FROM case_search_fts_head WHERE case_search_fts_head MATCH :fts"
)
# The terms of the number and address alone, for the best tier of a search. SQLite: an FTS5
# table kept by `reindex_cases` (rowid = case id). PostgreSQL: a GIN index on this function
# of `case_search.head`, which gives the terms `terms()` gives (same runs, same bigrams).
SQLITE_HEAD_FTS = "CREATE VIRTUAL TABLE case_search_fts_head USING fts5(terms)"
PG_BIGRAMS_FUNCTION = """
CREATE OR REPLACE FUNCTION case_search_bigrams(value text) RETURNS tsvector
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
SELECT pg_catalog.to_tsvector(
    'pg_catalog.simple'::pg_catalog.regconfig,
    coalesce(pg_catalog.string_agg(pg_catalog.substr(m.run[1], i, 2), ' '), ''))
FROM pg_catalog.regexp_matches(value, 'WORD', 'g') AS m(run),
     pg_catalog.generate_series(1, pg_catalog.length(m.run[1]) - 1) AS i
$$""".replace("WORD", WORD.pattern)  # nosec B608  # a constant: no input in it
# A search with more matches than the total's cap reads a tier among the newest cases first
# (a common word fills the page there), as many as the matches' share says should hold the
# page, twice over, up to WALK; if they hold too few, or more than WALK would be needed, its
# index gives all its candidates, which are sorted. The number and address rarely hold what
# is searched: that tier asks its index first whether it has HEAD_MANY candidates at all,
# and reads them directly when it has fewer.
WALK = 6000
HEAD_MANY = 2000
# A text in this share of the cases or more (by PostgreSQL's statistics of its terms, and
# for a text of several terms, among the newest SAMPLE ids) has its matches counted among the
# newest ids by the exact test: an index lookup would first list all its 80,000 or more
# postings, which costs more than checking the 12,000 rows that hold 1,000 matches.
COMMON_SHARE = 0.08
SAMPLE = 2000
SHARES_TTL = 600.0
TERM_SHARES = text(
    "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats "
    "WHERE schemaname = current_schema() AND tablename = 'case_search' "
    "AND attname = 'public_terms'"
)
_shares: dict[str, tuple[float | None, dict[str, float]]] = {}  # database → (read at, shares)
TIERS = ("head", "body", "notes")  # the rank of a match: number or address, text, note


def normalize(value: str) -> str:
    """Return text as it is stored and compared: lower case (the search ignores case)."""
    return value.lower()


def terms(value: str) -> list[str]:
    """Return the distinct character bigrams of the letter-and-digit runs of a text."""
    seen: dict[str, None] = {}
    for run in WORD.findall(normalize(value)):
        for i in range(len(run) - 1):
            seen[run[i : i + 2]] = None
    return list(seen)


@dataclass
class Query:
    """A query as the search uses it: its normalized text and the terms to look up."""

    text: str
    terms: list[str]

    @property
    def usable(self) -> bool:
        """Tell whether the index can answer it (a run of two letters or digits at least)."""
        return bool(self.terms)


def parse(raw: str) -> Query:
    """Read a search box's text: trimmed, lower case, with the bigrams the index holds."""
    value = normalize(raw.strip())
    found = terms(value)
    if len(found) > MAX_QUERY_TERMS:  # any subset still gives every match as a candidate
        step = len(found) / MAX_QUERY_TERMS
        found = [found[int(i * step)] for i in range(MAX_QUERY_TERMS)]
    return Query(value, found)


def _fts_phrases(words: Sequence[str]) -> str:
    # A term holds letters and digits only, so quoting it leaves nothing for FTS5 to parse.
    return " AND ".join(f'"{word}"' for word in words)


def _fts_query(query: Query, *, staff: bool) -> str:
    """Return the FTS5 expression of a query over the public terms (staff: notes' too)."""
    columns = "{public_terms staff_terms}" if staff else "public_terms"
    return f"{columns} : ({_fts_phrases(query.terms)})"


def _holds(query: Query, dialect: str, *, position: bool) -> Callable[[Any], ColumnElement[bool]]:
    """Return the exact test that a text column holds the query: `strpos()` / `instr()`
    with `position`, else LIKE (the same answer: both sides lower case, no wildcards)."""
    if position:
        locate = func.strpos if dialect == "postgresql" else func.instr
        return lambda column: locate(column, query.text) > 0
    return lambda column: column.contains(query.text, autoescape=True)


def matching(
    query: Query, *, staff: bool, dialect: str, position: bool = False
) -> ColumnElement[bool]:
    """Return the condition on `case_search` that a row holds the query's text.

    Public searches look in the number, address, description and public replies; staff
    searches also in the internal notes. The index narrows, the text decides: by LIKE,
    or with `position` by `strpos()` / `instr()`, the same test (the text and the query
    are both lower case, and neither has wildcards), which PostgreSQL runs faster on long
    Chinese text (35.8 → 28 ms for the queue's matches at a million cases) but cannot
    estimate; for a lookup bounded by LIMIT, where the index leads anyway.
    """
    if not query.usable:
        return false()
    has = _holds(query, dialect, position=position)
    public_text = or_(has(CaseSearch.head), has(CaseSearch.body))
    notes_text = has(CaseSearch.notes)
    if dialect == "postgresql":
        tsquery = func.plainto_tsquery(literal("simple").cast(_regconfig()), " ".join(query.terms))
        public_hit = CaseSearch.public_terms.op("@@")(tsquery)
        if not staff:
            return public_hit & public_text
        return (public_hit & public_text) | (CaseSearch.staff_terms.op("@@")(tsquery) & notes_text)
    candidates = FTS_CANDIDATES.bindparams(bindparam("fts", _fts_query(query, staff=staff)))
    found = or_(public_text, notes_text) if staff else public_text
    return CaseSearch.case_id.in_(candidates.columns(rowid=CaseSearch.case_id.type)) & found


def with_candidates(statement: Select, query: Query, *, staff: bool) -> Select:
    """Join a statement on `case_search` to the cases the index gives for a query (SQLite).

    The FTS5 table leads the join and hands its rowids up in order, so a statement under
    LIMIT reads as many postings as it needs; the caller adds the exact test (`anywhere`)."""
    fts = bindparam("fts_terms", _fts_query(query, staff=staff))
    found = FTS_TABLE.c.case_search_fts.op("MATCH")(fts)
    return statement.join(FTS_TABLE, FTS_TABLE.c.rowid == CaseSearch.case_id).where(found)


def _tsquery(query: Query):
    return func.plainto_tsquery(literal("simple").cast(_regconfig()), " ".join(query.terms))


def tiers(*, staff: bool) -> tuple[str, ...]:
    """Return the tiers of the rank a search walks, best first (notes: staff only)."""
    return TIERS if staff else TIERS[:2]


def in_tier(query: Query, tier: str, dialect: str, *, newest_first: bool) -> ColumnElement[bool]:
    """Return the exact test that a `case_search` row matches in a tier and in no better one.

    Read newest first, the test is `strpos()` / `instr()`, which the planners cannot
    estimate and take for common, so they keep to the date order and stop at the page; read
    through candidates it is LIKE, which they take for rare, so they keep to the index.
    """
    has = _holds(query, dialect, position=newest_first)
    head, body = has(CaseSearch.head), has(CaseSearch.body)
    if tier == "head":
        return head
    if tier == "body":
        return body & ~head
    return has(CaseSearch.notes) & ~head & ~body


def tier_candidates(query: Query, tier: str, dialect: str) -> ColumnElement[bool]:
    """Return the index condition on `case_search` that a row may match in a tier."""
    if dialect == "postgresql":
        terms = {
            "head": func.case_search_bigrams(CaseSearch.head),
            "body": CaseSearch.public_terms,
            "notes": CaseSearch.staff_terms,
        }[tier]
        return terms.op("@@")(_tsquery(query))
    return CaseSearch.case_id.in_(_fts_ids(query, tier))


def _fts_ids(query: Query, tier: str):
    phrases = _fts_phrases(query.terms)
    if tier == "head":
        found = HEAD_CANDIDATES.bindparams(bindparam("fts", phrases))
    else:
        column = "public_terms" if tier == "body" else "staff_terms"
        found = FTS_CANDIDATES.bindparams(bindparam("fts", f"{column} : ({phrases})"))
    return found.columns(rowid=CaseSearch.case_id.type)


def has_many(connection: Connection, query: Query, tier: str) -> bool:
    """Tell whether a tier's index gives HEAD_MANY candidates or more (counting stops there)."""
    if connection.dialect.name == "postgresql":
        found = select(literal(1)).where(tier_candidates(query, tier, "postgresql"))
    else:
        found = select(literal(1)).select_from(_fts_ids(query, tier).subquery())
    counted = select(func.count()).select_from(found.limit(HEAD_MANY).subquery())
    return (connection.scalar(counted) or 0) >= HEAD_MANY


def anywhere(query: Query, *, staff: bool, dialect: str) -> ColumnElement[bool]:
    """Return the exact test alone that a `case_search` row holds the query (no index)."""
    has = _holds(query, dialect, position=True)
    columns = [CaseSearch.head, CaseSearch.body] + ([CaseSearch.notes] if staff else [])
    return or_(*(has(column) for column in columns))


def estimated_share(connection: Connection, query: Query) -> float:
    """Return the largest share of cases that may hold the query, by the database's statistics.

    PostgreSQL's ANALYZE keeps the share of rows holding each of the most common terms of
    `public_terms` (`pg_stats.most_common_elems`); a query is in no more cases than its
    rarest term. Read once per process every SHARES_TTL seconds; 0 for a term not among
    them (rare), and on SQLite (not kept)."""
    if connection.dialect.name != "postgresql" or not query.terms:
        return 0.0
    key = connection.engine.url.render_as_string(hide_password=True)
    now = time.monotonic()
    read_at, shares = _shares.get(key, (None, {}))
    if read_at is None or now - read_at > SHARES_TTL:
        row = connection.execute(TERM_SHARES).first()
        shares = dict(zip(row[0], row[1], strict=False)) if row and row[0] else {}
        _shares[key] = (now, shares)
    return min(shares.get(term, 0.0) for term in query.terms)


def _regconfig():
    from sqlalchemy.dialects.postgresql import REGCONFIG

    return REGCONFIG


def relevance(query: Query) -> ColumnElement[int]:
    """Return the rank of a match, best first: number or address, description or reply, note."""
    return case(
        (CaseSearch.head.contains(query.text, autoescape=True), 0),
        (CaseSearch.body.contains(query.text, autoescape=True), 1),
        else_=2,
    )


# --- keeping the index -----------------------------------------------------------------


def _row(number: str, address: str, description: str, events: Iterable[tuple[bool, str]]):
    head = normalize(f"{number}\n{address}")
    public = [body for public, body in events if public and body]
    notes = normalize("\n".join(body for public, body in events if not public and body))
    body = normalize("\n".join([description, *public]))
    return {
        "head": head,
        "body": body,
        "notes": notes,
        "public_terms": " ".join(terms(f"{head}\n{body}")),
        "staff_terms": " ".join(terms(notes)),
    }


def reindex_cases(connection: Connection, case_ids: Iterable[int]) -> int:
    """Rewrite the index rows of some cases from their text; return how many were written."""
    ids = sorted(set(case_ids))
    if not ids:
        return 0
    cases = connection.execute(
        select(Case.id, Case.number, Case.address, Case.description).where(Case.id.in_(ids))
    ).all()
    events: dict[int, list[tuple[bool, str]]] = {}
    for case_id, public, body in connection.execute(
        select(CaseEvent.case_id, CaseEvent.public, CaseEvent.body)
        .where(CaseEvent.case_id.in_(ids), CaseEvent.body != "")
        .order_by(CaseEvent.case_id, CaseEvent.id)
    ):
        events.setdefault(case_id, []).append((public, body))
    rows = [
        {"case_id": i, **_row(number, address or "", description or "", events.get(i, []))}
        for i, number, address, description in cases
    ]
    connection.execute(delete(CaseSearch).where(CaseSearch.case_id.in_(ids)))
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        _delete_heads(connection, ids)
    if rows and sqlite:
        connection.execute(
            text("INSERT INTO case_search_fts_head(rowid, terms) VALUES (:case_id, :head_terms)"),
            [{"case_id": r["case_id"], "head_terms": " ".join(terms(r["head"]))} for r in rows],
        )
    if rows:
        statement = insert(CaseSearch)
        if connection.dialect.name == "postgresql":
            statement = statement.values(
                public_terms=func.to_tsvector(
                    literal("simple").cast(_regconfig()), bindparam("public_terms")
                ),
                staff_terms=func.to_tsvector(
                    literal("simple").cast(_regconfig()), bindparam("staff_terms")
                ),
            )
        connection.execute(statement, rows)
    return len(rows)


def _delete_heads(connection: Connection, ids: Iterable[int]) -> None:
    statement = text("DELETE FROM case_search_fts_head WHERE rowid IN :ids")
    connection.execute(statement.bindparams(bindparam("ids", expanding=True)), {"ids": list(ids)})


def reindex(
    connection: Connection,
    *,
    batch: int = BATCH,
    only_missing: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Rebuild the index of every case (or of those without a row), in batches by id."""
    total_query = select(func.count()).select_from(Case)
    ids_query = select(Case.id)
    if only_missing:
        unindexed = ~select(CaseSearch.case_id).where(CaseSearch.case_id == Case.id).exists()
        total_query, ids_query = total_query.where(unindexed), ids_query.where(unindexed)
    total = connection.scalar(total_query) or 0
    done, last = 0, 0
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:  # FTS5 merges its segments through the page cache: 2 MB by default
        cache_size = connection.exec_driver_sql("PRAGMA cache_size").scalar()
        connection.exec_driver_sql(f"PRAGMA cache_size = {REINDEX_CACHE_KIB}")
    try:
        while True:
            ids = connection.scalars(
                ids_query.where(Case.id > last).order_by(Case.id).limit(batch)
            ).all()
            if not ids:
                break
            done += reindex_cases(connection, ids)
            last = ids[-1]
            if progress:
                progress(done, total)
    finally:
        if sqlite:
            connection.exec_driver_sql(f"PRAGMA cache_size = {int(cache_size)}")
    return done


# SQLite: the triggers that keep `case_search_fts` row by row (its inserts and deletes).
FTS_ROW_TRIGGERS = ("case_search_ai", "case_search_ad")


def reindex_in_bulk(
    connection: Connection,
    *,
    only_missing: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Rebuild the index as `reindex` does, in the caller's one transaction (not committed).

    On SQLite the FTS5 table is rebuilt once, from `case_search`, at the end, instead of
    row by row through its triggers: those merge the index's segments as it grows, about an
    hour for a million cases on two cores, where the rebuild takes seconds (2 s for 100,000).
    The triggers are dropped and created again inside the transaction, which holds SQLite's
    only write lock throughout: no other writer can land a row between."""
    if connection.dialect.name != "sqlite":
        return reindex(connection, only_missing=only_missing, progress=progress)
    # pysqlite opens the transaction at the first INSERT, UPDATE or DELETE, not at DDL:
    # open it, so that the DROP TRIGGER below is in it and a failure rolls it back.
    connection.execute(delete(CaseSearch).where(false()))
    saved = connection.execute(
        text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name IN :names")
        .bindparams(bindparam("names", expanding=True)),
        {"names": list(FTS_ROW_TRIGGERS)},
    ).all()  # fmt: skip
    for name, _sql in saved:
        connection.exec_driver_sql(f"DROP TRIGGER {name}")
    done = reindex(connection, only_missing=only_missing, progress=progress)
    connection.exec_driver_sql("INSERT INTO case_search_fts(case_search_fts) VALUES ('rebuild')")
    for _name, sql in saved:
        connection.exec_driver_sql(sql)
    return done


TEXT_FIELDS = ("number", "address", "description")
EVENT_FIELDS = ("body", "public", "case_id")


def _changed(obj: object, fields: Sequence[str]) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in fields)


def _touched_cases(session: Session) -> tuple[set[int], set[int]]:
    """Return the ids of cases whose text this flush wrote, and of cases it deleted."""
    touched, deleted = set(), set()
    for obj in session.new:
        if isinstance(obj, Case):
            touched.add(obj.id)
        elif isinstance(obj, CaseEvent) and obj.body:
            touched.add(obj.case_id if obj.case_id is not None else obj.case.id)
    for obj in session.dirty:
        if isinstance(obj, Case) and _changed(obj, TEXT_FIELDS):
            touched.add(obj.id)
        elif isinstance(obj, CaseEvent) and _changed(obj, EVENT_FIELDS):
            touched.add(obj.case_id)
            old = inspect(obj).attrs.case_id.history.deleted
            touched.update(i for i in old if i is not None)
    for obj in session.deleted:
        if isinstance(obj, Case):
            deleted.add(obj.id)
        elif isinstance(obj, CaseEvent):
            touched.add(obj.case_id)
    return touched - deleted, deleted


@event.listens_for(Session, "after_flush")
def _keep_index(session: Session, _context) -> None:
    """Rewrite the index rows of the cases a flush wrote, inside the same transaction."""
    touched, deleted = _touched_cases(session)
    if not touched and not deleted:
        return
    connection = session.connection()
    if deleted:
        connection.execute(delete(CaseSearch).where(CaseSearch.case_id.in_(deleted)))
        if connection.dialect.name == "sqlite":
            _delete_heads(connection, deleted)
    reindex_cases(connection, touched)
