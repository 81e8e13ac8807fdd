"""Finding public cases: by box on the map, by filters in the list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Row, Select, String, case, cast, or_, select
from sqlalchemy.orm import Session, joinedload

from portal.models import Case, Category, Department, User, Zone
from portal.models.base import shifted

GEOJSON_LIMIT = 1000


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


def public_filtered(query: Select, filters: CaseFilters, tz: ZoneInfo) -> Select:
    """Narrow a query of cases to the public ones matching the list's filters, newest first.

    The query may select whole cases (the list) or a few columns (the public CSV).
    """
    query = _apply(query.where(Case.is_public), filters, tz)
    return query.order_by(Case.created_at.desc(), Case.id.desc())


def in_zone(code: str) -> ColumnElement[bool]:
    """Return the condition that a case lies in a zone or in one of its streets or grid cells."""
    zone_ids = select(Zone.id).where(or_(Zone.code == code, Zone.parent.has(Zone.code == code)))
    grid_ids = select(Zone.id).where(Zone.parent_id.in_(zone_ids))
    return or_(Case.zone_id.in_(zone_ids), Case.zone_id.in_(grid_ids))


def _apply(query: Select, filters: CaseFilters, tz: ZoneInfo) -> Select:
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
        escaped = filters.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        query = query.where(
            or_(
                Case.number.ilike(pattern, escape="\\"),
                Case.description.ilike(pattern, escape="\\"),
                Case.address.ilike(pattern, escape="\\"),
            )
        )
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
    """Return the SQL expression of a case's next unanswered deadline."""
    return case(
        (Case.state.in_(("resolved", "closed", "rejected", "duplicate")), None),
        (Case.responded_at.is_(None), Case.respond_due_at),
        else_=Case.resolve_due_at,
    )


def queue_filtered(
    query: Select, user: User, filters: QueueFilters, now: datetime, tz: ZoneInfo
) -> Select:
    """Narrow a query of cases to a staff member's queue and its filters, in queue order.

    The query may select whole cases (the queue pages) or a few columns (the exports).
    """
    # Held cases wait in the review queue, out of every work queue and export.
    query = query.where(Case.held.is_(False))
    if user.role == "handler":
        query = query.where(Case.department_id == user.department_id)
    query = _apply(query, filters, tz)
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
    return query.order_by(due.is_(None), due, Case.created_at)
