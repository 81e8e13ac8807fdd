"""Key performance indicators of the office: rates over one month, by SQL aggregation only.

A month is a calendar month in the office's time zone (Beijing time by default). Case rates
count the cases created in that month (their cohort), as they stand when the rates are
computed; inspection and acceptance rates count the reports submitted and the acceptances held
in that month. Hidden (moderated) cases and cases merged into another are not counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

from shapely.geometry import Point, shape
from sqlalchemy import ColumnElement, and_, case, exists, func, literal_column, or_, select
from sqlalchemy.orm import Session

from portal.models import Case, CaseEvent, Department, Inspection, Project, Zone
from portal.models.case import RATINGS
from portal.services import case_search, inspections, kpi_cache
from portal.services.kpi_text import DEFINITIONS, LABELS

KEYS = (
    "on_time_response_rate",
    "resolution_rate",
    "on_time_resolution_rate",
    "satisfaction_rate",
    "rework_rate",
    "major_hazard_rectification_rate",
    "inspection_pass_rate",
    "findings_answered_48h_rate",
    "acceptance_pass_rate",
)
# The source document's targets; the other rates have none and are shown as they are.
TARGETS = {
    "satisfaction_rate": 0.90,
    "major_hazard_rectification_rate": 1.00,
    "inspection_pass_rate": 0.98,
    "acceptance_pass_rate": 0.98,
}
# Grouped by the output column's name: an expression with bound parameters repeated in GROUP BY
# is not the same expression to PostgreSQL.
GROUP = literal_column("g")
# The rates whose misses are charged to the department that held the case at the deadline.
CHARGED = {
    "on_time_response_rate": Case.respond_missed_by_id,
    "on_time_resolution_rate": Case.resolve_missed_by_id,
}
MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class KpiError(ValueError):
    """A month, department or zone that cannot be counted; args[0] names which."""


@dataclass(frozen=True)
class Rate:
    """A rate with the counts behind it, and the target it is held to."""

    key: str
    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        """Return the fraction between 0 and 1, or None when there is nothing to count."""
        return self.numerator / self.denominator if self.denominator else None

    @property
    def target(self) -> float | None:
        """Return the source document's target, if it sets one."""
        return TARGETS.get(self.key)

    @property
    def met(self) -> bool | None:
        """Tell whether the rate reaches its target (None without a target or a value)."""
        if self.target is None or self.value is None:
            return None
        return self.value >= self.target - 1e-9

    @property
    def label(self) -> str:
        """Return the translated name of the rate."""
        return str(LABELS[self.key])

    @property
    def definition(self) -> str:
        """Return the translated definition, enough to recompute the rate by hand."""
        return str(DEFINITIONS[self.key])


@dataclass
class Scorecard:
    """Every rate for one month, for the whole office or one department or zone."""

    month: date
    rates: dict[str, Rate]
    department: str | None = None
    zone: str | None = None

    @property
    def month_text(self) -> str:
        """Return the month as YYYY-MM."""
        return f"{self.month:%Y-%m}"

    def as_dict(self) -> dict:
        """Return the scorecard as the JSON API shows it."""
        result: dict = {
            "month": self.month_text,
            "department": self.department,
            "zone": self.zone,
        }
        result.update({key: rate.value for key, rate in self.rates.items()})
        result["counts"] = {
            key: {"numerator": rate.numerator, "denominator": rate.denominator}
            for key, rate in self.rates.items()
        }
        result["targets"] = dict(TARGETS)
        return result


def parse_month(text: str) -> date:
    """Read YYYY-MM as the first day of the month, or raise KpiError('month')."""
    found = MONTH.match(text or "")
    if not found or not 1 <= int(found[2]) <= 12 or not 2000 <= int(found[1]) <= 2100:
        raise KpiError("month")
    return date(int(found[1]), int(found[2]), 1)


def current_month(now: datetime, tz: ZoneInfo) -> date:
    """Return the first day of the month that `now` falls in, in the office's time zone."""
    local = now.astimezone(tz)
    return date(local.year, local.month, 1)


def add_months(month: date, count: int) -> date:
    """Return the first day of the month `count` months later (earlier if negative)."""
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def month_start(month: date, tz: ZoneInfo) -> datetime:
    """Return the UTC moment a month begins in the office's time zone."""
    return datetime(month.year, month.month, 1, tzinfo=tz).astimezone(UTC)


def find_department(session: Session, code: str) -> Department:
    """Return the department with a code, or raise KpiError('department')."""
    department = session.scalar(select(Department).where(Department.code == code))
    if department is None:
        raise KpiError("department")
    return department


def find_zone(session: Session, code: str) -> Zone:
    """Return the zone with a code, or raise KpiError('zone')."""
    zone = session.scalar(select(Zone).where(Zone.code == code))
    if zone is None:
        raise KpiError("zone")
    return zone


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count(case((condition, 1)))


def _case_pairs(now: datetime) -> dict[str, tuple[ColumnElement[bool], ColumnElement[bool]]]:
    """Return each case rate as (counted in the numerator, counted in the denominator)."""
    answered = Case.responded_at.is_not(None)
    respond_due = and_(Case.respond_due_at.is_not(None), or_(answered, Case.respond_due_at < now))
    respond_on_time = and_(respond_due, answered, Case.responded_at <= Case.respond_due_at)
    workable = Case.state != "rejected"
    resolved = Case.resolved_at.is_not(None)
    resolve_due = and_(
        workable, Case.resolve_due_at.is_not(None), or_(resolved, Case.resolve_due_at < now)
    )
    reworked = exists().where(
        CaseEvent.case_id == Case.id, CaseEvent.kind.in_(("reopened", "rework"))
    )
    hazard = and_(Case.major_hazard.is_(True), workable)
    finding = Case.source == "inspection"
    return {
        "on_time_response_rate": (respond_on_time, respond_due),
        "resolution_rate": (and_(workable, resolved), workable),
        "on_time_resolution_rate": (
            and_(resolve_due, resolved, Case.resolved_at <= Case.resolve_due_at),
            resolve_due,
        ),
        "satisfaction_rate": (
            Case.rating.in_(("satisfied", "basically_satisfied")),
            Case.rating.is_not(None),
        ),
        "rework_rate": (and_(workable, reworked), and_(workable, or_(resolved, reworked))),
        "major_hazard_rectification_rate": (and_(hazard, Case.state == "closed"), hazard),
        "findings_answered_48h_rate": (
            and_(finding, respond_on_time),
            and_(finding, respond_due),
        ),
    }


def late_clocks(now: datetime) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """Return the conditions that the response, and the resolution, missed their deadline."""
    pairs = _case_pairs(now)
    respond_on_time, respond_due = pairs["on_time_response_rate"]
    resolve_on_time, resolve_due = pairs["on_time_resolution_rate"]
    return and_(respond_due, ~respond_on_time), and_(resolve_due, ~resolve_on_time)


def month_cases(month: date, tz: ZoneInfo) -> ColumnElement[bool]:
    """Return the condition that a case belongs to a month's cohort (as the rates count it)."""
    return and_(
        Case.created_at >= month_start(month, tz),
        Case.created_at < month_start(add_months(month, 1), tz),
        Case.is_public,
        Case.state != "duplicate",
    )


def _months_bucket(column, starts: list[datetime]) -> ColumnElement[int]:
    """Return which of the consecutive periods beginning at `starts` a moment falls in."""
    return case(
        *((and_(column >= a, column < b), n) for n, (a, b) in enumerate(pairwise(starts))),
        else_=-1,
    )


@dataclass
class _Scope:
    """Where to count: one department and/or one zone, or everywhere."""

    department: Department | None = None
    zone: Zone | None = None
    project_ids: list[int] | None = None  # the projects inside the zone


def _scope(session: Session, department: str | None, zone: str | None) -> _Scope:
    scope = _Scope(
        department=find_department(session, department) if department else None,
        zone=find_zone(session, zone) if zone else None,
    )
    if scope.zone is not None:
        scope.project_ids = projects_in_zone(session, scope.zone)
    return scope


def projects_in_zone(session: Session, zone: Zone) -> list[int]:
    """Return the ids of the projects whose site point lies in a zone.

    Projects are a few hundred at most, so their points are tested in Python; cases never are.
    """
    area = shape(zone.geometry)
    rows = session.execute(select(Project.id, Project.lat, Project.lng))
    return [pid for pid, lat, lng in rows if area.covers(Point(lng, lat))]


def _tally(
    session: Session,
    starts: list[datetime],
    days: list[date],
    now: datetime,
    scope: _Scope,
    by,
    until: dict | None = None,
) -> dict[object, dict[str, list[int]]]:
    """Count every rate's numerator and denominator per group, in three aggregate queries.

    `by` is "month" (the periods between `starts`) or "department". `until`, if given, gets
    each group's earliest pending deadline: the moment its counts change by time alone.
    """
    pairs = _case_pairs(now)
    tallies: dict[object, dict[str, list[int]]] = {}

    def add(group, key: str, numerator: int, denominator: int) -> None:
        counts = tallies.setdefault(group, {k: [0, 0] for k in KEYS})[key]
        counts[0] += numerator
        counts[1] += denominator

    group = _months_bucket(Case.created_at, starts) if by == "month" else Case.department_id
    # A missed deadline is charged to the department that held the case when its clock ran
    # out, which may not be the one holding it now: those two rates are counted apart.
    apart = {} if by == "month" and scope.department is None else CHARGED
    columns = [group.label("g")]
    for key, (numerator, denominator) in pairs.items():
        if key not in apart:
            columns += [
                _count(numerator).label(f"{key}_n"),
                _count(denominator).label(f"{key}_d"),
            ]
    respond_pending = and_(Case.responded_at.is_(None), Case.respond_due_at >= now)
    resolve_pending = and_(
        Case.resolved_at.is_(None), Case.state != "rejected", Case.resolve_due_at >= now
    )
    columns += [
        func.min(case((respond_pending, Case.respond_due_at))).label("respond_until"),
        func.min(case((resolve_pending, Case.resolve_due_at))).label("resolve_until"),
    ]
    query = (
        select(*columns)
        .where(
            Case.created_at >= starts[0],
            Case.created_at < starts[-1],
            Case.is_public,
            Case.state != "duplicate",
        )
        .group_by(GROUP)
    )
    if scope.department is not None:
        query = query.where(Case.department_id == scope.department.id)
    if scope.zone is not None:
        query = query.where(case_search.in_zone(scope.zone.code))
    for row in session.execute(query).mappings():
        for key in pairs:
            if key not in apart:
                add(row["g"], key, row[f"{key}_n"], row[f"{key}_d"])
        if until is not None:
            pending = [t for t in (row["respond_until"], row["resolve_until"]) if t is not None]
            until[row["g"]] = min(pending) if pending else None
    for key, charged_column in apart.items():
        charged = func.coalesce(charged_column, Case.department_id)
        numerator, denominator = pairs[key]
        counted_query = (
            select(
                (group if by == "month" else charged).label("g"),
                _count(numerator).label("n"),
                _count(denominator).label("d"),
            )
            .where(
                Case.created_at >= starts[0],
                Case.created_at < starts[-1],
                Case.is_public,
                Case.state != "duplicate",
            )
            .group_by(GROUP)
        )
        if scope.department is not None:
            counted_query = counted_query.where(charged == scope.department.id)
        if scope.zone is not None:
            counted_query = counted_query.where(case_search.in_zone(scope.zone.code))
        for row in session.execute(counted_query).mappings():
            add(row["g"], key, row["n"], row["d"])

    counted = inspections.counted()
    group = (
        _months_bucket(Inspection.submitted_at, starts) if by == "month" else Project.department_id
    )
    query = (
        select(
            group.label("g"),
            _count(and_(counted, Inspection.verdict == "pass")),
            _count(counted),
        )
        .join(Project, Project.id == Inspection.project_id)
        .where(
            Inspection.status == "submitted",
            Inspection.submitted_at >= starts[0],
            Inspection.submitted_at < starts[-1],
        )
        .group_by(GROUP)
    )
    query = _narrow_projects(query, scope)
    for g, passed, total in session.execute(query):
        add(g, "inspection_pass_rate", passed, total)

    decided = Project.acceptance_result.in_(("passed", "failed"))
    day_bucket = case(
        *(
            (and_(Project.acceptance_date >= a, Project.acceptance_date < b), n)
            for n, (a, b) in enumerate(pairwise(days))
        ),
        else_=-1,
    )
    group = day_bucket if by == "month" else Project.department_id
    query = (
        select(group.label("g"), _count(Project.acceptance_result == "passed"), func.count())
        .where(decided, Project.acceptance_date >= days[0], Project.acceptance_date < days[-1])
        .group_by(GROUP)
    )
    query = _narrow_projects(query, scope)
    for g, passed, total in session.execute(query):
        add(g, "acceptance_pass_rate", passed, total)
    return tallies


def _narrow_projects(query, scope: _Scope):
    if scope.department is not None:
        query = query.where(Project.department_id == scope.department.id)
    if scope.project_ids is not None:
        query = query.where(Project.id.in_(scope.project_ids))
    return query


def _card(month: date, counts: dict[str, list[int]] | None, scope: _Scope) -> Scorecard:
    counts = counts or {}
    return Scorecard(
        month=month,
        rates={key: Rate(key, *counts.get(key, (0, 0))) for key in KEYS},
        department=scope.department.code if scope.department else None,
        zone=scope.zone.code if scope.zone else None,
    )


def trend(
    session: Session,
    month: date,
    now: datetime,
    tz: ZoneInfo,
    *,
    months: int = 12,
    department: str | None = None,
    zone: str | None = None,
) -> list[Scorecard]:
    """Return the scorecards of the `months` months ending with `month`, oldest first.

    Past months come from the cache while their records and pending deadlines stay as they
    were; the others are counted in one pass over the span they cover.
    """
    scope = _scope(session, department, zone)
    firsts = [add_months(month, n) for n in range(1 - months, 1)]
    key = f"{department or ''}|{zone or ''}"
    this_month = current_month(now, tz)
    # Read before counting: a change committed meanwhile leaves the counts stale, never wrong.
    known = kpi_cache.versions(session, [m for m in firsts if m < this_month])
    counts = {}
    for m, version in known.items():
        cached = kpi_cache.get(m, key, version, now)
        if cached is not None:
            counts[m] = cached
    missing = [m for m in firsts if m not in counts]
    if missing:
        span = [
            add_months(missing[0], n) for n in range(_months_apart(missing[0], missing[-1]) + 2)
        ]
        until: dict = {}
        tallies = _tally(
            session, [month_start(m, tz) for m in span], span, now, scope, "month", until
        )
        for n, m in enumerate(span[:-1]):
            counts[m] = tallies.get(n) or {}
            if m in known:
                kpi_cache.put(m, key, known[m], until.get(n), counts[m])
    return [_card(m, counts.get(m), scope) for m in firsts]


def _months_apart(first: date, last: date) -> int:
    return (last.year - first.year) * 12 + last.month - first.month


def scorecard(
    session: Session,
    month: date,
    now: datetime,
    tz: ZoneInfo,
    *,
    department: str | None = None,
    zone: str | None = None,
) -> Scorecard:
    """Return every rate for one month, for the office or one department or zone."""
    return trend(session, month, now, tz, months=1, department=department, zone=zone)[0]


def by_department(
    session: Session, month: date, now: datetime, tz: ZoneInfo
) -> list[tuple[Department, Scorecard]]:
    """Return each department's scorecard for a month, in one pass per kind of record."""
    firsts = [month, add_months(month, 1)]
    starts = [month_start(m, tz) for m in firsts]
    tallies = _tally(session, starts, firsts, now, _Scope(), "department")
    departments = session.scalars(select(Department).order_by(Department.code))
    return [
        (d, _card(month, tallies.get(d.id), _Scope(department=d)))
        for d in departments
        if d.active or d.id in tallies
    ]


def ratings_by_department(
    session: Session, month: date, tz: ZoneInfo
) -> dict[int | None, dict[str, int]]:
    """Return how many of a month's cases each department got of each rating (满意, 基本满意,
    不满意), as the satisfaction rate counts them."""
    rows = session.execute(
        select(Case.department_id, Case.rating, func.count())
        .where(month_cases(month, tz), Case.rating.is_not(None))
        .group_by(Case.department_id, Case.rating)
    )
    counted: dict[int | None, dict[str, int]] = {}
    for department_id, rating, count in rows:
        counted.setdefault(department_id, {r: 0 for r in RATINGS})[rating] = count
    return counted


def by_zone(
    session: Session, month: date, now: datetime, tz: ZoneInfo, level: str = "street"
) -> list[tuple[Zone, Scorecard]]:
    """Return the scorecard of each zone of a level (streets by default) for a month."""
    zones = session.scalars(select(Zone).where(Zone.level == level).order_by(Zone.code))
    return [(z, scorecard(session, month, now, tz, zone=z.code)) for z in zones]


@dataclass(frozen=True)
class Extensions:
    """The extensions (延期) a department was granted in a month, counted apart from the
    rates: an approved extension moves the deadline the on-time rates hold it to."""

    count: int
    minutes: int


def extensions(session: Session, month: date, tz: ZoneInfo) -> dict[str, Extensions]:
    """Return the extensions approved in a month by department code."""
    start, end = month_start(month, tz), month_start(add_months(month, 1), tz)
    found: dict[str, list[int]] = {}
    for data in session.scalars(
        select(CaseEvent.data).where(
            CaseEvent.kind == "extension_approved",
            CaseEvent.created_at >= start,
            CaseEvent.created_at < end,
        )
    ):
        counts = found.setdefault((data or {}).get("department") or "", [0, 0])
        counts[0] += 1
        counts[1] += int((data or {}).get("minutes") or 0)
    return {code: Extensions(n, minutes) for code, (n, minutes) in found.items()}
