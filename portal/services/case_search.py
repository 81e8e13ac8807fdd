"""Finding public cases: by box on the map, by filters in the list."""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    String,
    cast,
    false,
    func,
    or_,
    select,
    text,
    type_coerce,
)
from sqlalchemy.orm import Session, joinedload, load_only
from sqlalchemy.types import NullType

from portal.extensions import db
from portal.models import Case, CaseSearch, Category, Department, User, Zone
from portal.models.base import shifted
from portal.services import search_index
from portal.web import COUNT_CAP, CappedPage

GEOJSON_LIMIT = 1000
DRIVER_VALUE = NullType()  # a column read as the driver gives it, no conversion


def public_cases() -> Select:
    """Return the query of every case the public may see."""
    return select(Case).where(Case.is_public)


def in_bbox(
    session: Session,
    bbox: tuple[float, float, float, float],
    state: str | None = None,
    category: str | None = None,
    limit: int = GEOJSON_LIMIT,
) -> list[Row]:
    """Return the newest public cases inside (min_lng, min_lat, max_lng, max_lat), as rows.

    Only the columns the map shows are read: the map asks for up to a thousand at a time.
    """
    min_lng, min_lat, max_lng, max_lat = bbox
    query = (
        select(
            Case.number,
            Case.lat,
            Case.lng,
            Case.state,
            Case.created_at,
            Case.moderated,
            Category.code.label("category_code"),
            Category.name_zh,
            Category.name_en,
        )
        .join(Case.category)
        .where(
            Case.is_public,
            Case.lat.between(min_lat, max_lat),
            Case.lng.between(min_lng, max_lng),
        )
        .order_by(Case.created_at.desc(), Case.id.desc())
        .limit(limit)
    )
    if state:
        query = query.where(Case.state == state)
    if category:
        query = query.where(Category.code == category)
    return list(session.execute(query))


@dataclass
class CaseFilters:
    """What the public list is filtered by; empty values filter nothing."""

    q: str = ""
    state: str = ""
    category: str = ""
    zone: str = ""
    since: date | None = None
    until: date | None = None


def _day_start(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tz)


def filtered(filters: CaseFilters, tz: ZoneInfo) -> Select:
    """Return the public cases matching the list's filters, newest first."""
    query = select(Case).options(joinedload(Case.category), joinedload(Case.zone))
    return public_filtered(query, filters, tz)


@functools.cache
def list_rows() -> Select:
    """Return the query of the public list's rows: what a row shows (number, category name,
    state, time, description), not the whole case, its zone or its JSON fields (built once:
    a statement is immutable)."""
    return select(Case).options(
        load_only(Case.number, Case.state, Case.created_at, Case.description, Case.category_id),
        joinedload(Case.category).load_only(Category.name_zh, Category.name_en),
    )


def list_page(filters: CaseFilters, tz: ZoneInfo, page: int, per_page: int) -> CappedPage:
    """Return a page of the public list; a search is read tier by tier (SearchPage)."""
    if not filters.q:
        return CappedPage(public_filtered(list_rows(), filters, tz), page, per_page)
    unsearched = public_filtered(list_rows(), replace(filters, q=""), tz)
    return SearchPage(unsearched, filters.q, staff=False, page=page, per_page=per_page)


def public_filtered(query: Select, filters: CaseFilters, tz: ZoneInfo) -> Select:
    """Narrow a query of cases to the public ones matching the list's filters, newest first.

    The query may select whole cases (the list) or a few columns (the public CSV).
    """
    query = _apply(query.where(Case.is_public), filters, tz)
    if filters.q:  # the best matches first, then the newest
        query = query.order_by(search_index.relevance(search_index.parse(filters.q)))
    return query.order_by(Case.created_at.desc(), Case.id.desc())


def in_zone(code: str) -> ColumnElement[bool]:
    """Return the condition that a case lies in a zone or in one of its streets or grid cells."""
    zone_ids = select(Zone.id).where(or_(Zone.code == code, Zone.parent.has(Zone.code == code)))
    grid_ids = select(Zone.id).where(Zone.parent_id.in_(zone_ids))
    return or_(Case.zone_id.in_(zone_ids), Case.zone_id.in_(grid_ids))


def searched(query: Select, q: str, *, staff: bool) -> Select:
    """Narrow a query of cases to those whose text holds `q` (staff: internal notes too).

    The index gives the candidates, their text decides: the result is what a substring scan
    finds. A query the index cannot answer (no two letters or digits together) finds
    nothing rather than scan every case; the views say why (`search_index.parse(q).usable`).
    """
    parsed = search_index.parse(q)
    condition = search_index.matching(parsed, staff=staff, dialect=db.engine.dialect.name)
    return query.join(CaseSearch, CaseSearch.case_id == Case.id).where(condition)


class SearchPage(CappedPage):
    """A page of a search's matches in rank order (CappedPage's interface).

    The rank is where a case matched (number or address, then description or reply, then
    note), then newest first. The matches are first read unordered, with where each matched,
    up to the total's cap: through the index; or, for a text the database's statistics say
    is in a tenth of the cases, among the newest ids by the exact test alone (the index would
    list 100,000 of them first). When there are no more than the cap (most queries), they
    are all there and are ranked in memory: the page and the total come from one lookup.
    When there are more (a common word), the total is the cap, and the page is read tier by
    tier (`ranked_ids`), each newest first, up to what the page still needs, instead of
    ranking 100,000 matches; the matches read tell how far down the newest cases each
    tier's page lies. `query` is the list's query without the search.
    """

    def __init__(self, query: Select, q: str, *, staff: bool, page: int, per_page: int) -> None:
        self.page, self.per_page = page, per_page
        parsed = search_index.parse(q)
        if not parsed.usable:
            self.items, self.total, self.capped = [], 0, False
            return
        _quiet_planner()
        wanted = page * per_page
        limit = max(COUNT_CAP, wanted) + 1
        found, lowest = common_matches(query, parsed, staff=staff, limit=limit)
        if len(found) < limit:  # not known to be common, or not after all: through the index
            found, lowest = all_matches(query, parsed, staff=staff, limit=limit), None
        self.capped = len(found) >= limit
        self.total = limit - 1 if self.capped else len(found)
        if self.capped:
            walks = walk_lengths(found, wanted, staff=staff, lowest=lowest)
            ids = ranked_ids(query, parsed, staff=staff, wanted=wanted, walks=walks)
        else:
            ids = [row[0] for row in ranked(found)]
        ids = ids[(page - 1) * per_page : wanted]
        rows = db.session.scalars(query.where(Case.id.in_(ids))).unique() if ids else []
        by_id = {c.id: c for c in rows}
        self.items = [by_id[i] for i in ids if i in by_id]


def _quiet_planner() -> None:
    """PostgreSQL: no parallel workers and no JIT for the search's transaction.

    A page of 20 rows: starting workers or compiling the plan costs more than it saves
    (the planner's estimates of the text tests are guesses, which can cross JIT's cost)."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
        connection.execute(text("SET LOCAL jit = off"))


def _matches(query: Select, parsed: search_index.Query) -> Select:
    # The creation time as the driver gives it (SQLite: its ISO text, PostgreSQL: an aware
    # datetime), only to rank the matches in memory: both sort as the column does in SQL,
    # and the UTC type's conversion of up to 1,001 values cost more than the sort.
    created_at = type_coerce(Case.created_at, DRIVER_VALUE)
    tier = search_index.relevance(parsed)
    ids = query.with_only_columns(Case.id, created_at, tier, maintain_column_froms=True)
    return ids.order_by(None).join(CaseSearch, CaseSearch.case_id == Case.id)


def all_matches(query: Select, parsed: search_index.Query, *, staff: bool, limit: int) -> list:
    """Return up to `limit` matches of a search as (id, created_at, tier), in no order."""
    dialect = db.engine.dialect.name
    matches = _matches(query, parsed)
    if dialect == "sqlite":  # the FTS5 table joined: the postings read stop at the limit
        matches = search_index.with_candidates(matches, parsed, staff=staff)
        condition = search_index.anywhere(parsed, staff=staff, dialect=dialect)
    else:
        condition = search_index.matching(parsed, staff=staff, dialect=dialect, position=True)
    matches = matches.where(condition).limit(limit)
    # Core rows fetched at once (not row by row): no ORM work for 1,001.
    return db.session.connection().execute(matches).all()


def common_matches(
    query: Select, parsed: search_index.Query, *, staff: bool, limit: int
) -> tuple[list, int | None]:
    """Return the first `limit` matches among the newest ids of a common text, and their floor.

    Only for a text whose every term the statistics find in COMMON_SHARE of the cases or
    more, and, for a text of more than one term, whose matches are as common among the
    newest SAMPLE ids (else ([], None)): the ids above a floor where twice `limit` matches
    should lie, by the exact test alone. Fewer than `limit` found means the text is less
    common than it seemed: the caller then asks the index."""
    connection = db.session.connection()
    share = search_index.estimated_share(connection, parsed)
    if share < search_index.COMMON_SHARE:
        return [], None
    highest = connection.scalar(select(func.max(Case.id))) or 0
    exact = search_index.anywhere(parsed, staff=staff, dialect=connection.dialect.name)

    def newest(floor: int) -> Select:
        return _matches(query, parsed).where(Case.id > floor, CaseSearch.case_id > floor, exact)

    if len(parsed.terms) > 1:  # rarer than its terms, maybe (12号井): its share in a sample
        sample = connection.execute(newest(highest - search_index.SAMPLE).limit(limit)).all()
        share = len(sample) / search_index.SAMPLE
        if share < search_index.COMMON_SHARE:
            return [], None
    floor = highest - int(2 * limit / share)
    return connection.execute(newest(floor).limit(limit)).all(), floor


def walk_lengths(matches: list, wanted: int, *, staff: bool, lowest: int | None) -> dict[str, int]:
    """Return, for each tier, how many of the newest cases to check before its index.

    The matches read unordered came in the order of the ids, about (from `lowest` up, or
    from the first case): the span of ids they cover and how many matched in each tier tell
    how common each tier's matches are, hence how far down the newest cases the page's lie.
    Twice that; or 0 (go to the index) for a tier with none among them or when more than
    WALK would be needed: its candidates are then fewer than the cases to walk."""
    if lowest is None:
        lowest = (db.session.connection().scalar(select(func.min(Case.id))) or 1) - 1
    span = max(m[0] for m in matches) - lowest
    in_tier = Counter(m[2] for m in matches)  # one pass over the 1,001 matches
    walks = {}
    for rank, tier in enumerate(search_index.tiers(staff=staff)):
        seen = in_tier[rank]
        needed = 2 * wanted * span // seen + 1 if seen else 0
        walks[tier] = needed if needed <= search_index.WALK else 0
    return walks


def ranked(matches: list) -> list:
    """Sort matches (id, created_at, tier) as the ranked query does: tier, newest, highest id."""
    newest_first = sorted(matches, key=lambda m: (m[1], m[0]), reverse=True)
    return sorted(newest_first, key=lambda m: m[2])  # stable: newest first within a tier


def _search_ids(query: Select) -> Select:
    ids = query.with_only_columns(Case.id, maintain_column_froms=True).order_by(None)
    return ids.join(CaseSearch, CaseSearch.case_id == Case.id)


def ranked_ids(
    query: Select,
    parsed: search_index.Query,
    *,
    staff: bool,
    wanted: int,
    walks: dict[str, int] | None = None,
) -> list:
    """Return the ids of the first `wanted` matches of a search in rank order, tier by tier.

    Each tier is first looked for among the newest cases of the list, as many as `walks`
    gives for it (by default WALK, and the number-and-address tier not at all when its index
    has fewer than HEAD_MANY candidates); the page fills there when the words are common.
    If they hold fewer than the page needs, or the walk is 0, the tier's index gives its
    candidates, which are sorted. Either way a tier gives its newest matches.
    """
    connection = db.session.connection()
    dialect = connection.dialect.name
    newest_first = (Case.created_at.desc(), Case.id.desc())
    ids: list[int] = []
    for tier in search_index.tiers(staff=staff):
        if len(ids) >= wanted:
            break
        needed = wanted - len(ids)
        if walks is not None:
            walk = walks[tier]
        elif tier == "head" and not search_index.has_many(connection, parsed, tier):
            walk = 0
        else:
            walk = search_index.WALK
        found = _walked(query, parsed, tier, walk, needed) if walk else []
        if len(found) < needed:  # not common enough: through the index, all of the tier
            candidates = _search_ids(query).where(
                search_index.tier_candidates(parsed, tier, dialect),
                search_index.in_tier(parsed, tier, dialect, newest_first=False),
            )
            ordered = candidates.order_by(*newest_first).limit(needed)
            found = connection.scalars(ordered).all()
        ids += found
    return ids


def _walked(query: Select, parsed: search_index.Query, tier: str, walk: int, needed: int) -> list:
    """Return the newest `needed` matches of a tier among the newest `walk` cases of the list."""
    newest = (
        query.with_only_columns(Case.id, Case.created_at, maintain_column_froms=True)
        .order_by(None)
        .order_by(Case.created_at.desc(), Case.id.desc())
        .limit(walk)
        .subquery()
    )
    dialect = db.engine.dialect.name
    walked = (
        select(newest.c.id)
        .join(CaseSearch, CaseSearch.case_id == newest.c.id)
        .where(search_index.in_tier(parsed, tier, dialect, newest_first=True))
        .order_by(newest.c.created_at.desc(), newest.c.id.desc())
        .limit(needed)
    )
    return db.session.connection().scalars(walked).all()


def _apply(query: Select, filters: CaseFilters, tz: ZoneInfo, *, staff: bool = False) -> Select:
    """Add the filters shared by the public list and the back-office queues."""
    if filters.state:
        query = query.where(Case.state == filters.state)
    if filters.category:
        # Compared by id, not EXISTS over the categories: SQLite then uses the cases' index.
        category_id = select(Category.id).where(Category.code == filters.category)
        query = query.where(Case.category_id == category_id.scalar_subquery())
    if filters.zone:
        query = query.where(in_zone(filters.zone))
    if filters.q:
        query = searched(query, filters.q, staff=staff)
    if filters.since:
        query = query.where(Case.created_at >= _day_start(filters.since, tz))
    if filters.until:
        day_after = shifted(_day_start(filters.until, tz), timedelta(days=1))
        query = query.where(Case.created_at < day_after)
    return query


@dataclass
class QueueFilters(CaseFilters):
    """What a back-office queue is filtered by, beyond the public filters."""

    department: str = ""
    priority: str = ""
    source: str = ""
    flag: str = ""
    overdue: bool = False


def has_flag(flag: str) -> ColumnElement[bool]:
    """Return the SQL test of a case carrying a flag (one of CASE_FLAGS).

    Flags are a short JSON list of fixed codes; its text holds the code in quotes, the same
    on SQLite and PostgreSQL, so no JSON operator of one database is needed."""
    return cast(Case.flags, String).like(f'%"{flag}"%')


def next_due():
    """Return a case's next unanswered deadline (a generated column with the queues' index)."""
    return Case.next_due_at


def queue_filtered(
    query: Select, user: User, filters: QueueFilters, now: datetime, tz: ZoneInfo
) -> Select:
    """Narrow a query of cases to a staff member's queue and its filters, in queue order.

    The query may select whole cases (the queue pages) or a few columns (the exports).
    """
    # Held cases wait in the review queue, out of every work queue and export.
    query = query.where(Case.held == false())  # "= false": the queue indexes hold `held`
    if user.role == "handler":
        query = query.where(Case.department_id == user.department_id)
    query = _apply(query, filters, tz, staff=True)
    if filters.department:
        department_id = select(Department.id).where(Department.code == filters.department)
        query = query.where(Case.department_id == department_id.scalar_subquery())
    if filters.priority:
        query = query.where(Case.priority == filters.priority)
    if filters.source:
        query = query.where(Case.source == filters.source)
    if filters.flag:
        query = query.where(has_flag(filters.flag))
    due = next_due()
    if filters.overdue:
        query = query.where(due < now)
    if filters.q:  # a search: the best matches first, then the newest
        relevance = search_index.relevance(search_index.parse(filters.q))
        return query.order_by(relevance, Case.created_at.desc(), Case.id.desc())
    # A resident's news (an answer, a reopening) raises the case to the top until staff act.
    return query.order_by(Case.attention_at.is_(None), due.is_(None), due, Case.created_at)
