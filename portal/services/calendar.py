"""The working calendar: holidays and make-up working days as data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import CalendarDay


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
