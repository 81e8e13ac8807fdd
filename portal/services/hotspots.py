"""Grid hotspots (网格化): the grid cells where a group of problems suddenly grows.

The method, for each grid cell c and category group g:

- x_w is the number of cases of g created in c during week w (Monday 00:00 to Monday 00:00,
  office time). Rejected cases and duplicates do not count (a duplicate is one problem
  reported twice); cases outside every grid cell do not either.
- The baseline is the cell's own: its N weeks before the week tested
  (HOTSPOT_BASELINE_WEEKS, default 8), weeks without a case counting 0; the expected count
  shown is their mean.
- The test is the exact conditional test that the week's Poisson rate is no higher than the
  baseline's (Przyborowski and Wilenski, 1940): given the total T = x + the baseline's
  cases, under an unchanged rate the week's share of T is Binomial(T, 1 / (N + 1)), so
  p = P(Binomial(T, 1 / (N + 1)) ≥ x), summed exactly. Unlike a Poisson tail on the plug-in
  mean it counts the uncertainty of a baseline estimated from a few weeks (the plug-in test
  raised about 1 false alarm per 300 steady pairs at α = 0.001 in the tests' generated
  histories; this one stays within α).
- The week is a hotspot when x ≥ HOTSPOT_MIN_COUNT (default 3: one or two cases never make
  a hotspot, whatever the baseline) and p < HOTSPOT_ALPHA (default 0.001: strict, because
  every week thousands of cell × group pairs are tested). With an empty baseline and N = 8,
  4 cases in a week are a hotspot and 3 are not (p = 1/729).

All counts come from one aggregation query (GROUP BY cell, group, week) over the N + 1
weeks; the weeks are buckets of a CASE on their boundaries, the same on SQLite and
PostgreSQL. Recomputing a week replaces that week's hotspots; older weeks are kept as the
history.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, delete, func, select
from sqlalchemy.orm import Session

from portal.models import Case, Category, Hotspot, Zone

NOT_COUNTED = ("rejected", "duplicate")


class HotspotError(ValueError):
    """Raised when a week cannot be read or computed."""


@dataclass(frozen=True)
class Method:
    """The test's parameters (the HOTSPOT_* settings)."""

    baseline_weeks: int = 8
    min_count: int = 3
    alpha: float = 0.001

    @classmethod
    def from_config(cls, config: dict) -> Method:
        """Read the method from the app's settings."""
        return cls(
            baseline_weeks=max(1, int(config.get("HOTSPOT_BASELINE_WEEKS", 8))),
            min_count=max(1, int(config.get("HOTSPOT_MIN_COUNT", 3))),
            alpha=float(config.get("HOTSPOT_ALPHA", 0.001)),
        )


@dataclass(frozen=True)
class Finding:
    """A cell and group whose week is far above its baseline."""

    zone_id: int
    group_id: int
    observed: int
    expected: float
    p_value: float


def monday(day: date) -> date:
    """Return the Monday of the week a day is in."""
    return day - timedelta(days=day.weekday())


def parse_week(text: str) -> date:
    """Read a week as YYYY-Www (ISO) or any date of it (YYYY-MM-DD); return its Monday."""
    text = (text or "").strip()
    try:
        if "W" in text.upper():
            year, week = text.upper().split("-W")
            day = date.fromisocalendar(int(year), int(week), 1)
        else:
            day = date.fromisoformat(text)
    except (ValueError, TypeError) as error:
        raise HotspotError("week") from error
    if not 2000 <= day.year <= 2999:
        raise HotspotError("week")
    return monday(day)


def current_week(now: datetime, tz: ZoneInfo) -> date:
    """Return the Monday of the office's week now."""
    return monday(now.astimezone(tz).date())


def week_start_utc(week: date, tz: ZoneInfo) -> datetime:
    """Return when a week begins (Monday 00:00 office time), in UTC."""
    return datetime.combine(week, time(0), tzinfo=tz).astimezone(UTC)


def binomial_tail(observed: int, total: int, share: float) -> float:
    """Return P(X ≥ observed) for X ~ Binomial(total, share), summed term by term."""
    if observed <= 0:
        return 1.0
    if observed > total:
        return 0.0
    log_p, log_q = math.log(share), math.log1p(-share)

    def term(k: int) -> float:
        return math.exp(
            math.lgamma(total + 1)
            - math.lgamma(k + 1)
            - math.lgamma(total - k + 1)
            + k * log_p
            + (total - k) * log_q
        )

    return min(1.0, math.fsum(term(k) for k in range(observed, total + 1)))


def _week_bounds(week: date, weeks: int, tz: ZoneInfo) -> list[datetime]:
    return [week_start_utc(week + timedelta(weeks=n), tz) for n in range(-weeks, 2)]


def weekly_counts(
    session: Session, week: date, weeks: int, tz: ZoneInfo
) -> dict[tuple[int, int], list[int]]:
    """Count cases by grid cell, group and week, the N weeks before `week` and `week` itself.

    One aggregation query; the list of each (cell, group) holds N + 1 counts, oldest first.
    """
    bounds = _week_bounds(week, weeks, tz)
    bucket = case(
        *(
            (and_(Case.created_at >= a, Case.created_at < b), n)
            for n, (a, b) in enumerate(pairwise(bounds))
        ),
        else_=-1,
    ).label("bucket")
    rows = session.execute(
        select(Case.zone_id, Category.group_id, bucket, func.count())
        .join(Category, Category.id == Case.category_id)
        .join(Zone, Zone.id == Case.zone_id)
        .where(
            Zone.level == "grid",
            Case.created_at >= bounds[0],
            Case.created_at < bounds[-1],
            Case.state.not_in(NOT_COUNTED),
        )
        .group_by(Case.zone_id, Category.group_id, bucket)
    )
    counts: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0] * (weeks + 1))
    for zone_id, group_id, n, count in rows:
        if n >= 0:
            counts[(zone_id, group_id)][n] = count
    return dict(counts)


def detect(counts: dict[tuple[int, int], list[int]], method: Method) -> list[Finding]:
    """Test the last week of each series against the mean of the weeks before it."""
    found = []
    for (zone_id, group_id), series in counts.items():
        *past, observed = series
        if observed < method.min_count:
            continue
        p = binomial_tail(observed, observed + sum(past), 1 / (len(past) + 1))
        if p < method.alpha:
            found.append(Finding(zone_id, group_id, observed, sum(past) / len(past), p))
    return sorted(found, key=lambda f: (f.p_value, -f.observed, f.zone_id, f.group_id))


def _cases_behind(
    session: Session, findings: Iterable[Finding], start: datetime, end: datetime
) -> dict[tuple[int, int], list[int]]:
    wanted = {(f.zone_id, f.group_id) for f in findings}
    if not wanted:
        return {}
    rows = session.execute(
        select(Case.id, Case.zone_id, Category.group_id)
        .join(Category, Category.id == Case.category_id)
        .where(
            Case.zone_id.in_({zone for zone, _g in wanted}),
            Case.created_at >= start,
            Case.created_at < end,
            Case.state.not_in(NOT_COUNTED),
        )
        .order_by(Case.id)
    )
    behind: dict[tuple[int, int], list[int]] = defaultdict(list)
    for case_id, zone_id, group_id in rows:
        if (zone_id, group_id) in wanted:
            behind[(zone_id, group_id)].append(case_id)
    return behind


def compute(
    session: Session, week: date, method: Method, tz: ZoneInfo, now: datetime
) -> list[Hotspot]:
    """Find the hotspots of a week and keep them, replacing that week's earlier result."""
    week = monday(week)
    counts = weekly_counts(session, week, method.baseline_weeks, tz)
    findings = detect(counts, method)
    start, end = week_start_utc(week, tz), week_start_utc(week + timedelta(weeks=1), tz)
    behind = _cases_behind(session, findings, start, end)
    session.execute(delete(Hotspot).where(Hotspot.week_start == week))
    made = [
        Hotspot(
            week_start=week,
            zone_id=f.zone_id,
            group_id=f.group_id,
            observed=f.observed,
            expected=round(f.expected, 4),
            baseline_weeks=method.baseline_weeks,
            p_value=f.p_value,
            case_ids=behind.get((f.zone_id, f.group_id), []),
            computed_at=now,
        )
        for f in findings
    ]
    session.add_all(made)
    session.flush()
    return made


def latest_week(session: Session) -> date | None:
    """Return the latest week with computed hotspots, if any."""
    return session.scalar(select(func.max(Hotspot.week_start)))


def of_week(session: Session, week: date, department_id: int | None = None) -> list[Hotspot]:
    """Return a week's hotspots, the most surprising first."""
    found = session.scalars(
        select(Hotspot)
        .where(Hotspot.week_start == week)
        .order_by(Hotspot.p_value, Hotspot.observed.desc(), Hotspot.id)
    ).all()
    if department_id is None:
        return list(found)
    mine = set(
        session.scalars(
            select(Case.id).where(
                Case.id.in_({i for h in found for i in h.case_ids}),
                Case.department_id == department_id,
            )
        )
    )
    return [h for h in found if mine.intersection(h.case_ids)]


def history(session: Session, zone_id: int, group_id: int, limit: int = 12) -> list[Hotspot]:
    """Return the earlier hotspots of a cell and group, newest first."""
    return list(
        session.scalars(
            select(Hotspot)
            .where(Hotspot.zone_id == zone_id, Hotspot.group_id == group_id)
            .order_by(Hotspot.week_start.desc())
            .limit(limit)
        )
    )
