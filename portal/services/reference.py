"""The reference data the queue page reads on every request, kept in each worker's memory.

The categories, zones, departments, SLA policies, routing rules and the working calendar
change when staff edit them, a few times a year; the queue page read them on every request
(6-8 of its statements). Each worker keeps a copy, as plain values (not ORM objects: they
outlive the request's session), and reads them again when the "reference" row of
`cache_version` has moved:

- every flush that writes one of those tables, and every UPDATE, DELETE or INSERT statement
  run on one through the session, bumps the row in the same transaction as the change (the
  listeners below), as `kpi_cache` does for the months' KPIs. A change is therefore seen by
  every worker and node as soon as it commits, whichever process or node made it; a change
  rolled back bumps nothing.
- a request reads the version once (with the signed-in user, `portal/accounts.py`, or on
  first use), before it reads any of the data: a copy is never newer-tagged than its data.
- a session that has written reference data in its open transaction neither uses the copy
  nor fills it: it reads its own uncommitted rows, which must not be kept if rolled back.

Each app has its own copy (`current_app.extensions`), so a test's new app starts empty.

Not seen: raw SQL text written to those tables (none in the portal; a hand-made change
in psql must bump the row too). `backup restore` moves the version past every number seen
before it, so running workers read the restored data again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from flask import current_app, g, has_app_context
from sqlalchemy import event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from portal.models import (
    CacheVersion,
    CalendarDay,
    Category,
    Department,
    RoutingRule,
    SlaPolicy,
    Zone,
)
from portal.models.base import BilingualName
from portal.services import calendar as work_calendar
from portal.services import routing

NAME = "reference"
EXTENSION = "reference_cache"
WATCHED = (Category, Zone, Department, SlaPolicy, RoutingRule, CalendarDay)
WATCHED_TABLES = frozenset(m.__table__.name for m in WATCHED)
WROTE = "reference_written"  # in session.info: this transaction changed reference data
VERSION = "reference_version"  # in g: the version this request read


@dataclass(frozen=True)
class Named(BilingualName):
    """A row of a filter list or a suggestion: its id, code and names."""

    id: int
    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class CategoryRef(Named):
    """A category as the queue needs it (its group for routing, its policy for the clock)."""

    group_id: int
    sla_policy_id: int


@dataclass(frozen=True)
class PolicyRef:
    """An SLA policy as a countdown needs it."""

    id: int
    code: str
    working_time: bool


@dataclass(frozen=True)
class RuleRef:
    """A routing rule (its department by id)."""

    category_id: int | None
    group_id: int | None
    zone_id: int | None
    department_id: int


@dataclass(frozen=True)
class Reference:
    """One consistent copy of the reference data, read at `version`."""

    version: int
    categories: tuple[CategoryRef, ...]  # by code, as the filter lists them
    categories_by_id: dict[int, CategoryRef]
    filter_zones: tuple[Named, ...]  # the zones above grid cells, as the filter lists them
    zone_parents: dict[int, int | None]  # every zone's parent
    departments: dict[int, Named]  # every department, active or not
    active_departments: tuple[Named, ...]  # by code
    policies: dict[int, PolicyRef]
    rules: tuple[RuleRef, ...]
    calendar_days: tuple[tuple[date, str, str], ...]  # (day, kind, name) by day
    _labels: dict = field(default_factory=dict, compare=False, repr=False)

    def labels(self, english: bool) -> Labels:
        """Return the names the queue page shows, in one language (worked out once)."""
        kept = self._labels.get(english)
        if kept is None:
            kept = self._labels[english] = Labels.of(self, english)
        return kept

    def suggest(self, category_id: int, zone_id: int | None) -> Named | None:
        """Return the department the routing rules suggest for a category in a zone, as
        `routing.for_place` does with the rows themselves."""
        zone_ids = []
        while zone_id is not None:
            zone_ids.append(zone_id)
            zone_id = self.zone_parents.get(zone_id)
        category = self.categories_by_id[category_id]
        rule = routing.best_rule(self.rules, category.id, category.group_id, zone_ids)
        return None if rule is None else self.departments[rule.department_id]

    def department_for(self, suggested_department_id: int | None, category_id: int, zone_id):
        """Return where a bulk 派遣 without a chosen department sends a case (as
        `bulk.department_for`): its suggested department, else the routing rules' one."""
        if suggested_department_id is not None:
            return self.departments[suggested_department_id]
        return self.suggest(category_id, zone_id)

    def calendar(self, start: date, days: int) -> work_calendar.WorkCalendar:
        """Return `WorkCalendar.load(session, start, days)` from the days kept."""
        end = start + timedelta(days=days)
        first = date(start.year, 1, 1)
        rows = [d for d in self.calendar_days if first <= d[0] <= end]
        return work_calendar.WorkCalendar.from_rows(rows, start)

    def missing_year(self, today: date) -> int | None:
        """Return `calendar.missing_year(session, today)` from the days kept."""
        return work_calendar.missing_year_in(self.calendar_days, today)


@dataclass(frozen=True)
class Labels:
    """The reference data's names in one language: the filter lists and the rows' names."""

    categories: tuple[tuple[str, str], ...]  # (code, name) of the category filter
    zones: tuple[tuple[str, str], ...]  # (code, name) of the zone filter
    departments: tuple[tuple[str, str], ...]  # (code, name) of the active departments
    category_names: dict[int, str]
    department_names: dict[int, str]  # every department, active or not

    @classmethod
    def of(cls, ref: Reference, english: bool) -> Labels:
        def name(row: Named) -> str:  # as BilingualName.name
            return row.name_en if english and row.name_en else row.name_zh

        return cls(
            categories=tuple((c.code, name(c)) for c in ref.categories),
            zones=tuple((z.code, name(z)) for z in ref.filter_zones),
            departments=tuple((d.code, name(d)) for d in ref.active_departments),
            category_names={c.id: name(c) for c in ref.categories},
            department_names={d.id: name(d) for d in ref.departments.values()},
        )


def _read(session: Session, version: int) -> Reference:
    def named(row) -> Named:
        return Named(row.id, row.code, row.name_zh, row.name_en)

    categories = tuple(
        CategoryRef(r.id, r.code, r.name_zh, r.name_en, r.group_id, r.sla_policy_id)
        for r in session.execute(
            select(
                Category.id,
                Category.code,
                Category.name_zh,
                Category.name_en,
                Category.group_id,
                Category.sla_policy_id,
            ).order_by(Category.code)
        )
    )
    zones = session.execute(
        select(Zone.id, Zone.code, Zone.name_zh, Zone.name_en, Zone.level, Zone.parent_id)
    ).all()
    departments = session.execute(
        select(
            Department.id,
            Department.code,
            Department.name_zh,
            Department.name_en,
            Department.active,
        ).order_by(Department.code)
    ).all()
    rules = session.execute(
        select(
            RoutingRule.category_id,
            RoutingRule.group_id,
            RoutingRule.zone_id,
            RoutingRule.department_id,
        )
    ).all()
    policies = session.execute(select(SlaPolicy.id, SlaPolicy.code, SlaPolicy.working_time))
    days = session.execute(
        select(CalendarDay.day, CalendarDay.kind, CalendarDay.name).order_by(CalendarDay.day)
    )
    return Reference(
        version=version,
        categories=categories,
        categories_by_id={c.id: c for c in categories},
        filter_zones=tuple(named(z) for z in zones if z.level != "grid"),
        zone_parents={z.id: z.parent_id for z in zones},
        departments={d.id: named(d) for d in departments},
        active_departments=tuple(named(d) for d in departments if d.active),
        policies={p.id: PolicyRef(p.id, p.code, p.working_time) for p in policies},
        rules=tuple(RuleRef(*r) for r in rules),
        calendar_days=tuple((d.day, d.kind, d.name) for d in days),
    )


def read_version(session: Session) -> int:
    """Return the version of the reference data committed now (0 before any change)."""
    return session.scalar(_VERSION) or 0


_VERSION = select(CacheVersion.version).where(CacheVersion.name == NAME)


def version_query():
    """Return the scalar query of the version (for folding into another query)."""
    return _VERSION.scalar_subquery()


def remember_version(version: int | None) -> None:
    """Keep the version a request read along with another query (the signed-in user)."""
    if has_app_context():
        g.setdefault(VERSION, version or 0)


def current(session: Session) -> Reference:
    """Return the reference data as committed when this request first asked (or read it)."""
    if session.info.get(WROTE):  # its own uncommitted changes: read, never kept
        return _read(session, -1)
    version = g.get(VERSION) if has_app_context() else None
    if version is None:
        version = read_version(session)
        if has_app_context():
            g.setdefault(VERSION, version)
    kept = current_app.extensions.get(EXTENSION)
    if kept is not None and kept.version == version:
        return kept
    fresh = _read(session, version)
    current_app.extensions[EXTENSION] = fresh
    return fresh


def _bump(session: Session) -> None:
    """Add one to the version in this session's transaction, creating the row at first."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = CacheVersion.__table__
    statement = insert(table).values(name=NAME, version=1)
    session.connection().execute(  # Core, not ORM: no flush or listener runs again
        statement.on_conflict_do_update(
            index_elements=["name"], set_={"version": table.c.version + 1}
        )
    )
    session.info[WROTE] = True
    if has_app_context():
        g.pop(VERSION, None)  # read again after this request's change


@event.listens_for(Session, "after_flush")
def _bump_on_flush(session: Session, _context) -> None:
    """Bump for a reference row added, deleted or changed by this flush."""
    changed = (
        *(o for o in session.new if isinstance(o, WATCHED)),
        *(o for o in session.deleted if isinstance(o, WATCHED)),
        *(o for o in session.dirty if isinstance(o, WATCHED) and session.is_modified(o)),
    )
    if changed:
        _bump(session)


@event.listens_for(Session, "do_orm_execute")
def _bump_on_statement(state) -> None:
    """Bump for an INSERT, UPDATE or DELETE statement on a reference table."""
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in WATCHED_TABLES:
        _bump(state.session)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    session.info.pop(WROTE, None)


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(WROTE, None)
