"""The working calendar: holidays and make-up working days as data."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import CalendarDay, User
from portal.services import audit


def seed_from_package(session: Session) -> int:
    """Copy the years the chinese-calendar package knows into the calendar table."""
    from chinese_calendar import constants

    known = set(session.scalars(select(CalendarDay.day)))
    added = 0
    for kind, days in (("holiday", constants.holidays), ("workday", constants.workdays)):
        for day, name in days.items():
            if day not in known:
                session.add(CalendarDay(day=day, kind=kind, name=str(name), source="package"))
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
            select(CalendarDay.day, CalendarDay.kind).where(
                CalendarDay.day >= start, CalendarDay.day <= end
            )
        ).all()
        overrides = {row.day: row.kind for row in rows}
        return cls(overrides=overrides, known_years={d.year for d in overrides})

    def is_workday(self, day: date) -> bool:
        """Tell whether the office works on a day (weekends only, for missing years)."""
        kind = self.overrides.get(day)
        if kind is not None:
            return kind == "workday"
        return day.weekday() < 5

    def knows_year(self, year: int) -> bool:
        """Tell whether the year's holidays have been entered."""
        return year in self.known_years


def import_csv(session: Session, handle: TextIO, actor: User | None) -> int:
    """Enter a year's holidays and make-up days from CSV rows: date,kind,name (kind:
    holiday or workday); an existing day is replaced."""
    rows = list(csv.reader(handle))
    if rows and rows[0] and rows[0][0].strip().lower() == "date":
        rows = rows[1:]
    days = []
    for number, row in enumerate(rows, start=1):
        if not row or not "".join(row).strip():
            continue
        try:
            day = date.fromisoformat(row[0].strip())
            kind = row[1].strip().lower()
        except (IndexError, ValueError) as error:
            raise ValueError(f"line {number}: expected date,kind,name") from error
        if kind not in ("holiday", "workday"):
            raise ValueError(f"line {number}: kind must be holiday or workday")
        days.append(
            CalendarDay(
                day=day, kind=kind, name=(row[2] if len(row) > 2 else "").strip(), source="import"
            )
        )
    for day in days:
        session.merge(day)
    session.flush()
    if days:
        audit.record(
            session,
            actor,
            "calendar.import",
            "calendar",
            f"{min(d.day for d in days)}..{max(d.day for d in days)}",
            after={"days": len(days)},
        )
    return len(days)


def missing_year(session: Session, today: date) -> int | None:
    """Return a year whose holidays should be entered and are not: this year, or next year
    from November (when the State Council publishes it)."""
    years = [today.year] + ([today.year + 1] if today.month >= 11 else [])
    for year in years:
        known = session.scalar(
            select(CalendarDay.day)
            .where(CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31))
            .limit(1)
        )
        if not known:
            return year
    return None
