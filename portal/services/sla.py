"""Deadlines: respond and resolve clocks in working or calendar time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy.orm import Session

from portal.models import Case
from portal.services.calendar import WorkCalendar

MAX_DAYS = 400


@dataclass(frozen=True)
class OfficeHours:
    """The office's working periods in a day, in local time."""

    periods: tuple[tuple[time, time], ...]

    @classmethod
    def parse(cls, text: str) -> OfficeHours:
        """Read periods written as '09:00-12:00,13:30-17:30'."""
        periods = []
        for part in text.split(","):
            start, end = part.strip().split("-")
            periods.append((time.fromisoformat(start.strip()), time.fromisoformat(end.strip())))
        return cls(tuple(sorted(periods)))


def add_working_minutes(
    start: datetime, minutes: int, calendar: WorkCalendar, hours: OfficeHours, tz: ZoneInfo
) -> datetime:
    """Return the moment when the given working minutes have passed after start."""
    local = start.astimezone(tz)
    remaining = timedelta(minutes=minutes)
    day = local.date()
    for _ in range(MAX_DAYS):
        if calendar.is_workday(day):
            for begin, end in hours.periods:
                period_start = datetime.combine(day, begin, tz)
                period_end = datetime.combine(day, end, tz)
                if period_end <= local:
                    continue
                period_start = max(period_start, local)
                available = period_end - period_start
                if remaining <= available:
                    return (period_start + remaining).astimezone(start.tzinfo)
                remaining -= available
        day += timedelta(days=1)
    raise ValueError("deadline beyond the calendar horizon")


def deadline(session: Session, start: datetime, minutes: int, working_time: bool) -> datetime:
    """Return a deadline counted from start in working or calendar minutes."""
    if not working_time:
        return start + timedelta(minutes=minutes)
    tz = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    calendar = WorkCalendar.load(session, start.astimezone(tz).date())
    hours = OfficeHours.parse(current_app.config["OFFICE_HOURS"])
    return add_working_minutes(start, minutes, calendar, hours, tz)


def start_clocks(session: Session, case: Case, now: datetime) -> None:
    """Set the respond and resolve deadlines of a case from its category's policy."""
    policy = case.category.sla_policy
    target = policy.target_for(case.priority)
    if target is None:
        return
    case.respond_due_at = deadline(session, now, target.respond_minutes, policy.working_time)
    case.resolve_due_at = deadline(session, now, target.resolve_minutes, policy.working_time)


def clock_status(due: datetime | None, done: datetime | None, now: datetime) -> str:
    """Say whether a deadline was kept, missed, is pending or is overdue."""
    if due is None:
        return "none"
    if done is not None:
        return "kept" if done <= due else "missed"
    return "overdue" if now > due else "pending"
