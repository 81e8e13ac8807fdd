"""The working calendar: holidays and make-up working days as data."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TextIO

from flask_babel import gettext as _
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from portal.models import OPEN_STATES, CalendarDay, Case, CaseEvent, User, utcnow
from portal.models.base import as_utc
from portal.services import audit

# The public holidays the State Council sets each year: a year's calendar is known only once
# every one of them is entered. A day may name two (2020's 国庆节、中秋节).
OFFICIAL_HOLIDAYS = ("元旦", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节")
# The chinese-calendar package names the holidays in English.
CHINESE_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "Mid-autumn Festival": "中秋节",
    "National Day": "国庆节",
    "Anti-Fascist 70th Day": "中国人民抗日战争胜利70周年纪念日",
}


def chinese_name(name: str) -> str:
    """Return a holiday's Chinese name (the package's English names are translated)."""
    return CHINESE_NAMES.get(name.strip(), name.strip())


def seed_from_package(session: Session) -> int:
    """Copy the years the chinese-calendar package knows into the calendar table."""
    from chinese_calendar import constants

    known = set(session.scalars(select(CalendarDay.day)))
    added = 0
    for kind, days in (("holiday", constants.holidays), ("workday", constants.workdays)):
        for day, name in days.items():
            if day not in known:
                session.add(
                    CalendarDay(day=day, kind=kind, name=chinese_name(str(name)), source="package")
                )
                added += 1
    session.flush()
    return added


@dataclass
class WorkCalendar:
    """Which days are working days, for the years the office has entered."""

    overrides: dict[date, str] = field(default_factory=dict)
    known_years: set[int] = field(default_factory=set)

    @classmethod
    def load(cls, session: Session, start: date, days: int = 400) -> WorkCalendar:
        """Load the entered days from start onwards (plus the years they cover)."""
        end = start + timedelta(days=days)
        rows = session.execute(
            select(CalendarDay.day, CalendarDay.kind, CalendarDay.name).where(
                CalendarDay.day >= date(start.year, 1, 1), CalendarDay.day <= end
            )
        ).all()
        return cls.from_rows(rows, start)

    @classmethod
    def from_rows(cls, rows, start: date) -> WorkCalendar:
        """Build the calendar from the (day, kind, name) rows of start's year onwards."""
        overrides = {day: kind for day, kind, _name in rows if day >= start}
        names: dict[int, str] = {}
        for day, kind, name in rows:
            if kind == "holiday":
                names[day.year] = names.get(day.year, "") + " " + chinese_name(name)
        known = {y for y, text in names.items() if all(h in text for h in OFFICIAL_HOLIDAYS)}
        return cls(overrides=overrides, known_years=known)

    def is_workday(self, day: date) -> bool:
        """Tell whether the office works on a day (weekends only, for missing years)."""
        kind = self.overrides.get(day)
        if kind is not None:
            return kind == "workday"
        return day.weekday() < 5

    def knows_year(self, year: int) -> bool:
        """Tell whether every official holiday of the year has been entered."""
        return year in self.known_years


@dataclass
class Imported:
    """What a calendar import did: the days entered, the cases whose deadlines moved."""

    days: int
    moved: list[Case] = field(default_factory=list)


def import_csv(session: Session, handle: TextIO, actor: User | None) -> Imported:
    """Enter a year's holidays and make-up days from CSV rows: date,kind,name (kind:
    holiday or workday); an existing day is replaced. The open deadlines the new days touch
    are recomputed, each changed case with its own audit entry."""
    rows = list(csv.reader(handle))
    first = 1
    if rows and rows[0] and rows[0][0].strip().lower() == "date":
        rows, first = rows[1:], 2
    days = []
    for number, row in enumerate(rows, start=first):
        if not row or not "".join(row).strip():
            continue
        try:
            day = date.fromisoformat(row[0].strip())
            kind = row[1].strip().lower()
        except (IndexError, ValueError) as error:
            raise ValueError(
                _("Line %(line)d is not in the form date,kind,name.", line=number)
            ) from error
        if kind not in ("holiday", "workday"):
            raise ValueError(_("Line %(line)d: the kind must be holiday or workday.", line=number))
        days.append(
            CalendarDay(
                day=day,
                kind=kind,
                name=chinese_name(row[2] if len(row) > 2 else ""),
                source="import",
            )
        )
    for day in days:
        session.merge(day)
    session.flush()
    if not days:
        return Imported(0)
    audit.record(
        session,
        actor,
        "calendar.import",
        "calendar",
        f"{min(d.day for d in days)}..{max(d.day for d in days)}",
        after={"days": len(days)},
    )
    moved = recompute_deadlines(session, min(d.day for d in days), actor)
    return Imported(len(days), moved)


CLOCK_FIELDS = tuple(
    f"{clock}_{part}_at"
    for clock in ("respond", "resolve")
    for part in ("due", "check", "warned", "escalated")
)


def recompute_deadlines(session: Session, since: date, actor: User | None) -> list[Case]:
    """Recompute the running deadlines that end on or after a day whose calendar changed;
    return the cases whose deadlines moved, each recorded in the audit log."""
    from portal.services import sla  # sla reads this module's calendar

    start = as_utc(datetime.combine(since - timedelta(days=1), time()))
    running = select(Case).where(
        Case.state.in_(OPEN_STATES),
        or_(
            and_(Case.responded_at.is_(None), Case.respond_due_at >= start),
            and_(Case.resolved_at.is_(None), Case.resolve_due_at >= start),
        ),
    )
    moved = []
    now = utcnow()
    for case in session.scalars(running.order_by(Case.id)):
        kept = {name: getattr(case, name) for name in CLOCK_FIELDS}
        before = {"respond_due_at": case.respond_due_at, "resolve_due_at": case.resolve_due_at}
        sla.restart_clocks(session, case)
        after = {"respond_due_at": case.respond_due_at, "resolve_due_at": case.resolve_due_at}
        if after == before:
            for name, value in kept.items():  # no new deadline: reminders stand as they were
                setattr(case, name, value)
            continue
        moved.append(case)
        session.add(
            CaseEvent(
                case=case,
                kind="deadlines_recomputed",
                public=False,
                actor=actor,
                data={k: v.isoformat() if v else None for k, v in after.items()},
                created_at=now,
            )
        )
        audit.record(
            session, actor, "case.deadlines_recomputed", "case", case.number, before, after, now
        )
    session.flush()
    return moved


def holidays_missing(session: Session, year: int) -> list[str]:
    """Return the official holidays of a year not entered yet, in the year's order."""
    names = session.scalars(
        select(CalendarDay.name).where(
            CalendarDay.kind == "holiday",
            CalendarDay.day >= date(year, 1, 1),
            CalendarDay.day <= date(year, 12, 31),
        )
    ).all()
    entered = " ".join(chinese_name(n) for n in names)
    return [name for name in OFFICIAL_HOLIDAYS if name not in entered]


def _years_due(today: date) -> list[int]:
    """Return the years whose holidays should be entered by today: this year, and next year
    from November (when the State Council publishes it)."""
    return [today.year] + ([today.year + 1] if today.month >= 11 else [])


def missing_year(session: Session, today: date) -> int | None:
    """Return a year whose holidays should be entered and are not: this year, or next year
    from November (when the State Council publishes it)."""
    for year in _years_due(today):
        if holidays_missing(session, year):
            return year
    return None


def missing_year_in(days, today: date) -> int | None:
    """Return `missing_year()` from the calendar's (day, kind, name) rows already read."""
    for year in _years_due(today):
        entered = " ".join(chinese_name(n) for d, k, n in days if k == "holiday" and d.year == year)
        if any(name not in entered for name in OFFICIAL_HOLIDAYS):
            return year
    return None
