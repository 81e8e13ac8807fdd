"""The SLA sweep: remind at 75% of a deadline and escalate at 100%, exactly once each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Case, CaseEvent, Department
from portal.services import audit, notify

BATCH = 500


@dataclass
class SweepResult:
    """What one sweep did."""

    reminded: int = 0
    escalated: int = 0


def sweep(session: Session, now: datetime) -> SweepResult:
    """Handle every clock whose check time has come; touch nothing else.

    Only clocks needing attention have a check time, so the cost follows the due cases,
    not all open ones. Rows are locked (skipping those another sweep holds) so two sweeps
    running at once never handle one clock twice.
    """
    result = SweepResult()
    for clock in ("respond", "resolve"):
        check = getattr(Case, f"{clock}_check_at")
        while True:
            due_cases = session.scalars(
                select(Case)
                .where(check <= now)
                .order_by(check)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            ).all()
            if not due_cases:
                break
            for case in due_cases:
                _handle(session, case, clock, now, result)
            session.flush()
    return result


def holder_at(session: Session, case: Case, moment: datetime) -> Department | None:
    """Return the department that held a case at a moment: the latest dispatch before it
    (none if the case was dispatched only later), or the case's own when the timeline has no
    dispatch at all (a case routed on entry)."""
    dispatches = [e for e in case.events if e.kind == "dispatched" and e.data.get("department")]
    if not dispatches:
        return case.department
    before = [e for e in dispatches if e.created_at <= moment]
    if not before:
        return None
    code = before[-1].data["department"]
    return session.scalar(select(Department).where(Department.code == code))


def _handle(session: Session, case: Case, clock: str, now: datetime, result: SweepResult) -> None:
    due = getattr(case, f"{clock}_due_at")
    done = case.responded_at if clock == "respond" else case.resolved_at
    if done is not None or not case.is_open or case.paused_at is not None or due is None:
        setattr(case, f"{clock}_check_at", None)
        return
    if now < due and getattr(case, f"{clock}_warned_at") is None:
        setattr(case, f"{clock}_warned_at", now)
        setattr(case, f"{clock}_check_at", due)
        notify.escalation(session, case, clock, overdue=False)
        session.add(
            CaseEvent(
                case=case, kind="reminder", public=False, created_at=now, data={"clock": clock}
            )
        )
        result.reminded += 1
        return
    setattr(case, f"{clock}_escalated_at", now)
    setattr(case, f"{clock}_check_at", None)
    holder = holder_at(session, case, due)
    setattr(case, f"{clock}_missed_by_id", holder.id if holder else None)
    if getattr(case, f"{clock}_warned_at") is None:
        setattr(case, f"{clock}_warned_at", now)
    notify.escalation(session, case, clock, overdue=True)
    session.add(
        CaseEvent(
            case=case,
            kind="escalated",
            public=True,
            created_at=now,
            data={"clock": clock, "department": holder.code if holder else None},
        )
    )
    audit.record(
        session,
        None,
        f"case.escalate.{clock}",
        "case",
        case.number,
        after={"due": due},
        now=now,
        actor_label="system: SLA sweep",
    )
    result.escalated += 1
