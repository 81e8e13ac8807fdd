"""Past months' KPI counts, kept in each worker's memory while their records stay unchanged.

A past month's figures change only when a case of that month (or an inspection submitted,
an acceptance held in it) changes, or when one of its pending deadlines passes. So:

- every flush that changes such a record bumps the month's row of `kpi_version`, in the same
  transaction as the change (the listener below);
- a cached month remembers the versions it was counted at (read before counting, so that a
  change committed meanwhile makes it stale, never the reverse) and the earliest pending
  deadline it depends on; it is used only while both still hold.

The current month is never cached, so new reports do not touch `kpi_version` at all.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context
from sqlalchemy import event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, attributes

from portal.models import Case, CaseEvent, Inspection, KpiVersion, Project, Zone

ANY_MONTH = date(1, 1, 1)  # the version of changes that may touch every month
SIZE = 4096  # months × scopes kept per worker (a few hundred bytes each)
# The columns the rates read, per model, and the column that places a record in a month.
COUNTED = {
    Case: (
        "created_at",
        {
            "created_at",
            "hidden",
            "state",
            "responded_at",
            "respond_due_at",
            "resolved_at",
            "resolve_due_at",
            "rating",
            "major_hazard",
            "source",
            "department_id",
            "respond_missed_by_id",
            "resolve_missed_by_id",
            "held",
            "zone_id",
        },
    ),
    Inspection: (
        "submitted_at",
        {"submitted_at", "status", "off_site", "flagged", "confirmed_at", "verdict"},
    ),
    Project: ("acceptance_date", {"acceptance_date", "acceptance_result"}),
}
# A project's place or department moves its inspections and acceptances between scopes.
ANYWHERE = {Project: {"lat", "lng", "department_id"}, Zone: {"geometry", "parent_id", "code"}}


def _entries() -> OrderedDict[tuple[date, str], tuple[tuple[int, int], datetime | None, dict]]:
    """Return this app's cache (each app its own, so a new app never sees another's)."""
    return current_app.extensions.setdefault("kpi_cache", OrderedDict())


def _timezone() -> ZoneInfo | None:
    if has_app_context():
        return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    return None


def _months(moment: datetime | date | None, tz: ZoneInfo | None) -> set[date]:
    """Return the month a moment falls in (both candidates when the time zone is unknown)."""
    if moment is None:
        return set()
    if not isinstance(moment, datetime):
        return {moment.replace(day=1)}
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if tz is not None:
        return {moment.astimezone(tz).date().replace(day=1)}
    return {(moment + timedelta(hours=h)).date().replace(day=1) for h in (-14, 14)}


def _changed_months(session: Session) -> set[date]:
    """Return the months whose counted records this flush changes."""
    tz = _timezone()
    months: set[date] = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        kind = type(obj)
        if kind is CaseEvent and obj.kind in ("reopened", "rework"):
            case = obj.__dict__.get("case")
            created = case.created_at if case is not None else _case_created(session, obj.case_id)
            months |= _months(created, tz)
            continue
        counted = COUNTED.get(kind)
        anywhere = ANYWHERE.get(kind, set())
        if counted is None and not anywhere:
            continue
        state = attributes.instance_state(obj)
        changed = (
            {a.key for a in state.attrs if a.history.has_changes()}
            if obj in session.dirty
            else None
        )  # None: new or deleted, every column counts
        new_project = kind is Project and obj in session.new  # counted nowhere yet
        if anywhere and (changed is None or changed & anywhere) and not new_project:
            months.add(ANY_MONTH)
        if counted is None or (changed is not None and not changed & counted[1]):
            continue
        history = attributes.get_history(obj, counted[0])
        for value in (*history.added, *history.unchanged, *history.deleted):
            months |= _months(value, tz)
    return months


def _case_created(session: Session, case_id: int | None) -> datetime | None:
    if case_id is None:
        return None
    with session.no_autoflush:
        return session.scalar(select(Case.created_at).where(Case.id == case_id))


def _upsert(session: Session, months: set[date]) -> None:
    """Add one to the version of each month, creating its row the first time."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for month in sorted(months):  # always in the same order, so that two writers never deadlock
        table = KpiVersion.__table__
        statement = insert(table).values(month=month, version=1)
        session.connection().execute(  # Core, not ORM: no flush or listener runs again
            statement.on_conflict_do_update(
                index_elements=["month"], set_={"version": table.c.version + 1}
            )
        )


@event.listens_for(Session, "after_flush")
def _bump_versions(session: Session, _context) -> None:
    """Bump the versions of the past months this flush changed, in its own transaction."""
    months = _changed_months(session)
    if not months:
        return
    tz = _timezone() or UTC
    # A month still current for a writer an hour ago may be past for a reader now; the hour
    # covers the longest transaction.
    current = (datetime.now(UTC) + timedelta(hours=1)).astimezone(tz).date().replace(day=1)
    past = {m for m in months if m < current}
    if past:
        _upsert(session, past)


@event.listens_for(Session, "do_orm_execute")
def _bulk_changes(state) -> None:
    """Treat an UPDATE or DELETE statement over counted records as touching every month."""
    if not (state.is_update or state.is_delete):
        return
    mapper = state.bind_mapper
    kind = mapper.class_ if mapper is not None else None
    if kind not in COUNTED and kind not in ANYWHERE:
        return
    values = getattr(state.statement, "_values", None) if state.is_update else None
    watched = COUNTED.get(kind, ("", set()))[1] | ANYWHERE.get(kind, set())
    if values and not {getattr(c, "key", str(c)) for c in values} & watched:
        return  # e.g. the followers' count of a case
    _upsert(state.session, {ANY_MONTH})


def versions(session: Session, months: list[date]) -> dict[date, tuple[int, int]]:
    """Return each month's version with the version of changes touching every month."""
    rows = dict(
        session.execute(
            select(KpiVersion.month, KpiVersion.version).where(
                KpiVersion.month.in_([*months, ANY_MONTH])
            )
        ).all()
    )
    everywhere = rows.get(ANY_MONTH, 0)
    return {m: (rows.get(m, 0), everywhere) for m in months}


def get(month: date, scope: str, version: tuple[int, int], now: datetime) -> dict | None:
    """Return a month's cached counts if still valid at this version and moment."""
    entries = _entries()
    entry = entries.get((month, scope))
    if entry is None:
        return None
    kept_version, valid_until, counts = entry
    if kept_version != version or (valid_until is not None and now >= valid_until):
        return None
    entries.move_to_end((month, scope))
    return counts


def put(
    month: date, scope: str, version: tuple[int, int], valid_until: datetime | None, counts: dict
) -> None:
    """Keep a month's counts, counted at `version`, until `valid_until` (None: no deadline)."""
    entries = _entries()
    entries[month, scope] = (version, valid_until, counts)
    entries.move_to_end((month, scope))
    while len(entries) > SIZE:
        entries.popitem(last=False)
