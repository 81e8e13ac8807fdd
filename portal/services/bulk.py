"""Bulk actions on the queue: each case goes through the same workflow function and the
same version check as a single action, on its own, and the result says what became of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from portal.models import Case, CaseEvent, Department, User
from portal.services import routing, workflow

ACTIONS = ("accept", "route", "set_priority")
MAX_CASES = 200


@dataclass
class Outcome:
    """What a bulk action did to one case: done, or refused with the reason's code and, for
    a case someone else changed meanwhile, their latest change."""

    number: str
    done: bool
    reason: str = ""
    change: CaseEvent | None = None


def latest_change(case: Case) -> CaseEvent | None:
    """Return the latest staff change on a case's timeline (who changed it, and when)."""
    return next((e for e in reversed(case.events) if e.actor is not None), None)


def department_for(session: Session, case: Case, chosen: Department | None) -> Department | None:
    """Return where a bulk 派遣 sends a case: the department chosen, else its suggested one."""
    return chosen or case.suggested_department or routing.suggest(session, case)


def _one(
    session: Session,
    case: Case,
    user: User,
    action: str,
    version: int | None,
    priority: str,
    department: Department | None,
    now: datetime,
) -> None:
    if action == "accept":  # no priority chosen: the case keeps its own
        workflow.accept(session, case, user, priority or case.priority, now, version)
    elif action == "set_priority":
        workflow.set_priority(session, case, user, priority, now, version)
    else:
        target = department_for(session, case, department)
        if target is None:
            raise workflow.WorkflowError("department")
        workflow.route(session, case, user, target, now, version)


def apply(
    session: Session,
    user: User,
    action: str,
    versions: dict[str, int | None],
    now: datetime,
    priority: str = "",
    department: Department | None = None,
) -> list[Outcome]:
    """Take one action on many cases, each checked on its own: a refused case changes
    nothing and leaves the others done. Only what was chosen changes: an empty priority or
    department leaves each case's own."""
    if action not in ACTIONS:
        raise workflow.WorkflowError("action")
    if action == "set_priority" and not priority:
        raise workflow.WorkflowError("priority")
    outcomes = []
    for number, version in list(versions.items())[:MAX_CASES]:
        case = session.scalar(select(Case).where(Case.number == number))
        if case is None:
            outcomes.append(Outcome(number, False, "missing"))
            continue
        try:
            with session.begin_nested():
                _one(session, case, user, action, version, priority, department, now)
        except workflow.WorkflowError as refused:
            session.refresh(case)
            stale = refused.code == "stale"
            outcomes.append(
                Outcome(number, False, refused.code, latest_change(case) if stale else None)
            )
        except StaleDataError:  # changed between our read and our write
            session.refresh(case)
            outcomes.append(Outcome(number, False, "stale", latest_change(case)))
        else:
            outcomes.append(Outcome(number, True))
    return outcomes
