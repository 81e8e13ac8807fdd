"""Deadlines: respond and resolve clocks in working or calendar time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Case, SlaPolicy
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


def working_minutes_between(
    start: datetime, end: datetime, calendar: WorkCalendar, hours: OfficeHours, tz: ZoneInfo
) -> int:
    """Return how many working minutes lie between two moments (0 if end is not later)."""
    if end <= start:
        return 0
    total = timedelta()
    first, last = start.astimezone(tz).date(), end.astimezone(tz).date()
    # Whole days between the first and the last count a full working day each: a clock
    # overdue for years is counted without building every day's periods.
    full_day = sum(
        (datetime.combine(first, b) - datetime.combine(first, a) for a, b in hours.periods),
        timedelta(),
    )
    for day in (first, last) if first != last else (first,):
        if calendar.is_workday(day):
            for begin, finish in hours.periods:
                lo = max(datetime.combine(day, begin, tz), start)
                hi = min(datetime.combine(day, finish, tz), end)
                if hi > lo:
                    total += hi - lo
    total += full_day * _workdays(calendar, first + timedelta(days=1), last)
    return int(total.total_seconds() // 60)


def _workdays(calendar: WorkCalendar, start: date, end: date) -> int:
    """Return how many working days lie in [start, end): weekdays, corrected by the days the
    calendar says otherwise (holidays on weekdays, make-up working weekends)."""
    if end <= start:
        return 0
    days = (end - start).days
    weeks, rest = divmod(days, 7)
    count = weeks * 5 + sum((start + timedelta(n)).weekday() < 5 for n in range(rest))
    for day, kind in calendar.overrides.items():
        if start <= day < end and (kind == "workday") != (day.weekday() < 5):
            count += 1 if kind == "workday" else -1
    return count


def _context(session: Session, start: datetime) -> tuple[WorkCalendar, OfficeHours, ZoneInfo]:
    tz = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    calendar = WorkCalendar.load(session, start.astimezone(tz).date() - timedelta(days=1))
    return calendar, OfficeHours.parse(current_app.config["OFFICE_HOURS"]), tz


def deadline(session: Session, start: datetime, minutes: int, working_time: bool) -> datetime:
    """Return a deadline counted from start in working or calendar minutes."""
    if not working_time:
        return start + timedelta(minutes=minutes)
    return add_working_minutes(start, minutes, *_context(session, start))


def remaining_minutes(session: Session, now: datetime, due: datetime, working_time: bool) -> int:
    """Return the minutes of a clock still left at a moment (0 once it has run out)."""
    if not working_time:
        return max(0, int((due - now).total_seconds() // 60))
    return working_minutes_between(now, due, *_context(session, now))


INSPECTION_POLICY = "inspection"


def policy_for(session: Session, case: Case) -> SlaPolicy:
    """Return the policy of a case: supervisors' findings have their own (48 h to respond)."""
    if case.source == "inspection":
        policy = session.scalar(select(SlaPolicy).where(SlaPolicy.code == INSPECTION_POLICY))
        if policy is not None:
            return policy
    return case.category.sla_policy


def _page_policy(session: Session, case: Case, memo: dict) -> SlaPolicy:
    """Return `policy_for(case)` from the policies read once for a page (a few rows)."""
    policies = memo.get("policies")
    if policies is None:
        policies = memo["policies"] = {p.id: p for p in session.scalars(select(SlaPolicy))}
    if case.source == "inspection":
        policy = next((p for p in policies.values() if p.code == INSPECTION_POLICY), None)
        if policy is not None:
            return policy
    reference = memo.get("reference")  # the worker's copy: the category's policy without it
    if reference is not None:
        return policies[reference.categories_by_id[case.category_id].sla_policy_id]
    return policies[case.category.sla_policy_id]


def start_clocks(session: Session, case: Case, now: datetime, respond: bool = True) -> None:
    """Set the deadlines of a case from its policy and priority."""
    _set_clocks(session, case, now if respond else None, now, [])


def restart_clocks(session: Session, case: Case) -> None:
    """Recompute the deadlines after the priority or category changed.

    Each clock counts from when it really started (the respond clock from the report, the
    resolve clock from the latest rework or reopening) and keeps every pause on the timeline.
    """
    restarts = [e.created_at for e in case.events if e.kind in CLOCK_RESTARTS]
    _set_clocks(
        session, case, case.created_at, restarts[-1] if restarts else case.created_at, _pauses(case)
    )


CLOCK_RESTARTS = ("rework", "reopened")
PAUSE_STARTS = ("info_requested",)
PAUSE_ENDS = ("info_provided", "resumed")


def _pauses(case: Case) -> list[tuple[datetime, datetime | None]]:
    """Return the pauses on a case's timeline as (began, ended or None while it lasts)."""
    pauses: list[tuple[datetime, datetime | None]] = []
    began = None
    for event in case.events:
        if event.kind in PAUSE_STARTS and began is None:
            began = event.created_at
        elif event.kind in PAUSE_ENDS and began is not None:
            pauses.append((began, event.created_at))
            began = None
    if began is not None:
        pauses.append((began, None))
    return pauses


def _set_clocks(
    session: Session,
    case: Case,
    respond_from: datetime | None,
    resolve_from: datetime,
    pauses: list[tuple[datetime, datetime | None]],
) -> None:
    policy = policy_for(session, case)
    target = policy.target_for(case.priority)
    if target is None:
        return
    working = policy.working_time

    def clock(start: datetime, minutes: int) -> tuple[datetime, datetime | None]:
        due = _shifted(session, start, minutes, working, pauses)
        check = _shifted(session, start, minutes * 3 // 4, working, pauses)
        return due, None if case.paused_at is not None else check

    if respond_from is not None and case.responded_at is None:
        case.respond_due_at, case.respond_check_at = clock(respond_from, target.respond_minutes)
        case.respond_warned_at = case.respond_escalated_at = None
    case.resolve_due_at, case.resolve_check_at = clock(resolve_from, target.resolve_minutes)
    if case.resolved_at is not None:
        case.resolve_check_at = None
    case.resolve_warned_at = case.resolve_escalated_at = None


def _shifted(
    session: Session,
    start: datetime,
    minutes: int,
    working: bool,
    pauses: list[tuple[datetime, datetime | None]],
) -> datetime:
    """Return the end of a clock from start, pushed back by each pause that began before it."""
    due = deadline(session, start, minutes, working)
    for began, ended in pauses:
        if began < start or began >= due:
            continue
        if ended is None:  # still paused: resuming will shift it
            break
        due = deadline(session, ended, remaining_minutes(session, began, due, working), working)
    return due


def pause(case: Case, now: datetime) -> None:
    """Stop the clocks while the office waits for the resident."""
    case.paused_at = now
    case.respond_check_at = case.resolve_check_at = None


def resume(session: Session, case: Case, now: datetime) -> None:
    """Restart the clocks, shifting each open deadline by the time spent paused."""
    if case.paused_at is None:
        return
    policy = policy_for(session, case)
    working = policy.working_time
    for clock, done in (("respond", case.responded_at), ("resolve", case.resolved_at)):
        due = getattr(case, f"{clock}_due_at")
        if due is None or done is not None:
            continue
        left = remaining_minutes(session, case.paused_at, due, working)
        new_due = deadline(session, now, left, working)
        setattr(case, f"{clock}_due_at", new_due)
        warned = getattr(case, f"{clock}_warned_at") is not None
        setattr(
            case,
            f"{clock}_check_at",
            new_due
            if warned
            else deadline(session, now, max(0, left - _quarter(policy, case, clock)), working),
        )
    case.paused_at = None


def extend(session: Session, case: Case, minutes: int, now: datetime) -> None:
    """Move the resolve deadline later by minutes counted as the policy counts (an approved
    extension); the reminder and the escalation follow the new deadline."""
    if case.resolve_due_at is None:
        return
    working = policy_for(session, case).working_time
    case.resolve_due_at = deadline(session, case.resolve_due_at, minutes, working)
    case.resolve_escalated_at = None
    if case.paused_at is not None or case.resolved_at is not None:
        case.resolve_check_at = None
    elif case.resolve_warned_at is not None or case.resolve_check_at is None:
        case.resolve_check_at = case.resolve_due_at
    else:
        case.resolve_check_at = min(case.resolve_check_at, case.resolve_due_at)


def _quarter(policy: SlaPolicy, case: Case, clock: str) -> int:
    target = policy.target_for(case.priority)
    minutes = target.respond_minutes if clock == "respond" else target.resolve_minutes
    return minutes - minutes * 3 // 4


@dataclass(frozen=True)
class Countdown:
    """What is left of a case's running clock, counted as its policy counts (working
    minutes or calendar minutes), frozen while the clock is paused."""

    clock: str  # "respond" or "resolve"
    due: datetime
    left: int  # minutes still left, 0 once overdue
    late: int  # minutes past the deadline
    paused: bool
    working: bool


def countdown(
    session: Session, case: Case, now: datetime, calendars: dict | None = None
) -> Countdown | None:
    """Return the countdown of the case's next unanswered deadline, or None if none runs.

    A page of many countdowns passes one `calendars` dict: each calendar and the policies
    are read once (or taken from the worker's copy of the reference data given in it as
    "reference", with its "policies")."""
    if case.state in ("resolved", "closed", "rejected", "duplicate"):
        return None
    clock, due = (
        ("respond", case.respond_due_at)
        if case.responded_at is None
        else ("resolve", case.resolve_due_at)
    )
    if due is None:
        return None
    memo = {} if calendars is None else calendars
    working = _page_policy(session, case, memo).working_time
    at = case.paused_at or now  # a paused clock stands still where it stopped

    def between(start: datetime, end: datetime) -> int:
        if not working:
            return max(0, int((end - start).total_seconds() // 60))
        # One calendar per page, read from the earliest moment asked for; a later start is
        # within it when its span ends before the calendar does.
        context = memo.get("context")
        if context is None or memo["from"] > start or memo["until"] < end:
            span = (max(end, now) - start).days + MAX_DAYS
            tz = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
            hours = OfficeHours.parse(current_app.config["OFFICE_HOURS"])
            first = start.astimezone(tz).date() - timedelta(1)
            reference = memo.get("reference")  # the worker's copy (services/reference.py)
            calendar = (
                WorkCalendar.load(session, first, span)
                if reference is None
                else reference.calendar(first, span)
            )
            memo.update({"context": (calendar, hours, tz), "from": start})
            memo["until"] = start + timedelta(days=span - 1)
        return working_minutes_between(start, end, *memo["context"])

    left = between(at, due)
    late = between(due, at) if at > due else 0
    return Countdown(clock, due, left, late, case.paused_at is not None, working)


def clock_status(due: datetime | None, done: datetime | None, now: datetime) -> str:
    """Say whether a deadline was kept, missed, is pending or is overdue."""
    if due is None:
        return "none"
    if done is not None:
        return "kept" if done <= due else "missed"
    return "overdue" if now > due else "pending"
