"""The case lifecycle as staff work it: each action checks who may do it in which state,
changes the case, writes the timeline, the audit log and the notifications.
The same functions serve the back office, the CLI and the API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal.models import (
    OPEN_STATES,
    PRIORITIES,
    Case,
    CaseEvent,
    CaseFollower,
    Category,
    Department,
    User,
)
from portal.services import audit, facilities, notify, routing, sla
from portal.services.photos import PhotoStore, ProcessedPhoto


class WorkflowError(ValueError):
    """Raised when an action is not allowed; `code` says why."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class StaleCase(WorkflowError):
    """Raised when the case changed since the official loaded it."""

    def __init__(self) -> None:
        super().__init__("stale")


# action → states it may start from, in the order the page offers them; who may do it is
# decided by `allowed`.
FROM_STATES: dict[str, tuple[str, ...]] = {
    "accept": ("submitted",),
    "route": ("submitted", "accepted", "dispatched", "in_progress"),
    "start": ("dispatched",),
    "reply": OPEN_STATES,
    "resolve": ("dispatched", "in_progress"),
    "close": ("resolved",),
    "rework": ("resolved",),
    "ask_info": ("accepted", "dispatched", "in_progress"),
    "resume": ("accepted", "dispatched", "in_progress"),
    "note": (*OPEN_STATES, "closed", "rejected", "duplicate"),
    "set_priority": ("submitted", "accepted", "dispatched", "in_progress"),
    "set_category": ("submitted", "accepted", "dispatched", "in_progress"),
    "reject": ("submitted", "accepted"),
    "merge": ("submitted", "accepted", "dispatched"),
    "assign": ("dispatched", "in_progress"),
    "send_back": ("dispatched", "in_progress"),
    "request_extension": ("dispatched", "in_progress"),
    "approve_extension": ("dispatched", "in_progress"),
    "decline_extension": ("dispatched", "in_progress"),
}
HANDLER_ACTIONS = {
    "start",
    "reply",
    "note",
    "ask_info",
    "resume",
    "resolve",
    "assign",
    "send_back",
    "request_extension",
}
# What only the department working the case asks for; the dispatcher decides on it.
HANDLER_ONLY = {"send_back", "request_extension"}
EXTENSION_DECISIONS = {"approve_extension", "decline_extension"}
MAX_EXTENSION_MINUTES = 30 * 24 * 60
SUPERVISOR_ACTIONS = {"close", "rework"}
FINDING_POINTS = 2
VERIFY_POINTS = 1


def is_finding(case: Case) -> bool:
    """Tell whether a case is a supervisor's finding, closed by their check on site (核查)."""
    return case.source == "inspection" and case.inspection is not None


def allowed(case: Case, user: User) -> list[str]:
    """Return the actions this user may take on this case now."""
    if case.held:
        return []  # held for review: released or rejected in the review queue first
    if user.role == "dispatcher" and is_finding(case):
        actions = set(FROM_STATES) - {"close"}  # the supervisor verifies it first
    elif user.role in ("dispatcher", "admin"):
        actions = set(FROM_STATES) - HANDLER_ONLY
    elif user.role == "supervisor" and case.inspection and case.inspection.supervisor_id == user.id:
        actions = SUPERVISOR_ACTIONS  # the supervisor verifies the fix of their finding (核查)
    elif user.role == "handler" and case.department_id and case.department_id == user.department_id:
        actions = HANDLER_ACTIONS
    else:
        return []
    possible = [a for a in FROM_STATES if a in actions and case.state in FROM_STATES[a]]
    if case.paused_at is not None:
        possible = [a for a in possible if a != "ask_info"]
    else:
        possible = [a for a in possible if a != "resume"]
    if case.extension_minutes is None:  # nothing to decide on
        return [a for a in possible if a not in EXTENSION_DECISIONS]
    return [a for a in possible if a != "request_extension"]  # one request at a time


def can_see(case: Case, user: User) -> bool:
    """Tell whether a staff member may open a case in the back office."""
    if user.role in ("dispatcher", "admin"):
        return True
    if user.role == "supervisor":
        return case.inspection is not None and case.inspection.supervisor_id == user.id
    return user.role == "handler" and case.department_id == user.department_id


def _snapshot(case: Case) -> dict:
    return {
        "state": case.state,
        "priority": case.priority,
        "department": case.department.code if case.department else None,
        "respond_due_at": case.respond_due_at,
        "resolve_due_at": case.resolve_due_at,
        "paused": case.paused_at is not None,
        "assignee": case.assignee.email if case.assignee else None,
    }


def _act(
    session: Session,
    case: Case,
    user: User,
    action: str,
    now: datetime,
    version: int | None,
    change: Callable[[], CaseEvent | None],
) -> CaseEvent | None:
    """Check permission, state and version; apply the change; log it everywhere."""
    if version is not None and version != case.version_id:
        raise StaleCase()
    if action not in allowed(case, user):
        raise WorkflowError("forbidden" if not can_see(case, user) else "state")
    before = _snapshot(case)
    event = change()
    case.updated_at = now
    case.attention_at = None  # staff have seen the resident's news
    if event is not None:
        event.case, event.actor, event.created_at = case, user, now
        session.add(event)
    session.flush()
    facilities.case_changed(session, case, now, user)
    audit.record(
        session, user, f"case.{action}", "case", case.number, before, _snapshot(case), now=now
    )
    if event is not None and event.public:
        notify.case_changed(session, case, event)
    return event


def _respond(case: Case, now: datetime) -> None:
    if case.responded_at is None:
        case.responded_at = now
        case.respond_check_at = None


def _state(case: Case, to: str, kind: str, body: str = "", **data: object) -> CaseEvent:
    event = CaseEvent(kind=kind, from_state=case.state, to_state=to, body=body, data=data)
    case.state = to
    return event


def accept(
    session: Session,
    case: Case,
    user: User,
    priority: str,
    now: datetime,
    version: int | None = None,
) -> CaseEvent:
    """Open the case officially, with a priority (立案)."""
    if priority not in PRIORITIES:
        raise WorkflowError("priority")

    def change() -> CaseEvent:
        previous = case.priority
        if priority != case.priority:
            case.priority = priority
            sla.restart_clocks(session, case)
        _respond(case, now)
        if case.inspection is not None:  # an accepted finding earns its supervisor points
            case.inspection.supervisor.points += FINDING_POINTS
        return _state(case, "accepted", "accepted", priority=priority, from_priority=previous)

    return _act(session, case, user, "accept", now, version, change)


def set_priority(
    session: Session,
    case: Case,
    user: User,
    priority: str,
    now: datetime,
    version: int | None = None,
) -> CaseEvent:
    """Change the priority; the deadlines are recomputed from the start."""
    if priority not in PRIORITIES:
        raise WorkflowError("priority")

    def change() -> CaseEvent:
        previous = case.priority
        case.priority = priority
        sla.restart_clocks(session, case)
        return CaseEvent(
            kind="priority", public=False, data={"priority": priority, "from": previous}
        )

    return _act(session, case, user, "set_priority", now, version, change)


def set_category(
    session: Session,
    case: Case,
    user: User,
    category: Category,
    now: datetime,
    version: int | None = None,
) -> CaseEvent:
    """Reclassify the case; its priority, deadlines and suggested department follow."""
    if not category.active:
        raise WorkflowError("category")

    def change() -> CaseEvent:
        previous = case.category.code
        case.category = category
        case.priority = category.default_priority
        case.major_hazard = category.major_hazard
        case.suggested_department = routing.suggest(session, case)
        sla.restart_clocks(session, case)
        return CaseEvent(kind="category", data={"from": previous, "to": category.code})

    return _act(session, case, user, "set_category", now, version, change)


REJECT_GROUNDS = ("invalid", "not_responsible")


def reject(
    session: Session,
    case: Case,
    user: User,
    reason: str,
    now: datetime,
    version: int | None = None,
    ground: str = "invalid",
) -> CaseEvent:
    """Refuse the case with a public reason (不予受理) on a ground: not valid or nothing to be
    done, or not this office's responsibility (other systems show the two differently)."""
    if not reason.strip():
        raise WorkflowError("reason")
    if ground not in REJECT_GROUNDS:
        raise WorkflowError("ground")

    def change() -> CaseEvent:
        _respond(case, now)
        case.resolve_check_at = None
        return _state(case, "rejected", "rejected", reason.strip(), ground=ground)

    return _act(session, case, user, "reject", now, version, change)


def merge(
    session: Session,
    case: Case,
    user: User,
    target: Case,
    now: datetime,
    version: int | None = None,
) -> CaseEvent:
    """Merge a duplicate into another open case; its followers follow the other one."""
    if target.id == case.id or not target.is_open or not target.is_public:
        raise WorkflowError("target")

    def change() -> CaseEvent:
        moved = session.execute(
            update(CaseFollower).where(CaseFollower.case_id == case.id).values(case_id=target.id)
        ).rowcount
        target.followers_count += moved + 1  # the reporter of the duplicate counts too
        case.followers_count = 0
        case.merged_into = target
        _respond(case, now)
        case.resolve_check_at = None
        session.add(
            CaseEvent(
                case=target,
                actor=user,
                kind="merged_in",
                created_at=now,
                data={"number": case.number},
                public=True,
            )
        )
        return _state(case, "duplicate", "merged", number=target.number)

    return _act(session, case, user, "merge", now, version, change)


def route(
    session: Session,
    case: Case,
    user: User,
    department: Department,
    now: datetime,
    version: int | None = None,
) -> CaseEvent:
    """Send the case to a department (派遣), or to another one."""
    if not department.active:
        raise WorkflowError("department")

    def change() -> CaseEvent:
        overridden = case.suggested_department_id not in (None, department.id)
        previous = case.department.code if case.department else None
        case.department = department
        _respond(case, now)
        return _state(
            case,
            "dispatched",
            "dispatched",
            department=department.code,
            from_department=previous,
            overridden=overridden,
        )

    return _act(session, case, user, "route", now, version, change)


def start(
    session: Session, case: Case, user: User, now: datetime, version: int | None = None
) -> CaseEvent:
    """Begin the work (处置中)."""
    return _act(
        session,
        case,
        user,
        "start",
        now,
        version,
        lambda: _state(case, "in_progress", "in_progress"),
    )


def reply(
    session: Session, case: Case, user: User, body: str, now: datetime, version: int | None = None
) -> CaseEvent:
    """Answer the resident publicly; the first answer stops the respond clock."""
    if not body.strip():
        raise WorkflowError("body")

    def change() -> CaseEvent:
        _respond(case, now)
        return CaseEvent(kind="public_reply", body=body.strip())

    return _act(session, case, user, "reply", now, version, change)


def note(
    session: Session, case: Case, user: User, body: str, now: datetime, version: int | None = None
) -> CaseEvent:
    """Add an internal note, seen by staff only."""
    if not body.strip():
        raise WorkflowError("body")
    return _act(
        session,
        case,
        user,
        "note",
        now,
        version,
        lambda: CaseEvent(kind="internal_note", body=body.strip(), public=False),
    )


def ask_info(
    session: Session,
    case: Case,
    user: User,
    question: str,
    now: datetime,
    version: int | None = None,
) -> CaseEvent:
    """Ask the resident for more information; the clocks pause until they answer."""
    if not question.strip():
        raise WorkflowError("body")

    def change() -> CaseEvent:
        _respond(case, now)
        sla.pause(case, now)
        return CaseEvent(kind="info_requested", body=question.strip())

    return _act(session, case, user, "ask_info", now, version, change)


def resume(
    session: Session,
    case: Case,
    user: User | None,
    body: str,
    now: datetime,
    version: int | None = None,
) -> CaseEvent:
    """Restart the clocks: the resident answered (user None) or staff decided to go on."""
    if user is None:
        if case.paused_at is None:
            raise WorkflowError("state")
        sla.resume(session, case, now)
        event = CaseEvent(case=case, kind="info_provided", body=body.strip(), created_at=now)
        session.add(event)
        case.updated_at = case.attention_at = now
        notify.case_changed(session, case, event, to_staff=True)
        return event

    def change() -> CaseEvent:
        sla.resume(session, case, now)
        return CaseEvent(kind="resumed", body=body.strip())

    return _act(session, case, user, "resume", now, version, change)


def resolve(
    session: Session,
    case: Case,
    user: User,
    body: str,
    photos: list[ProcessedPhoto],
    store: PhotoStore,
    now: datetime,
    version: int | None = None,
) -> CaseEvent:
    """Mark the work done, with what was done and "after" photos (已处置)."""
    if not body.strip():
        raise WorkflowError("body")
    from portal.services.cases import attach_photos

    def change() -> CaseEvent:
        _respond(case, now)
        case.resolved_at = now
        case.resolve_check_at = None
        attach_photos(session, case, photos, store, kind="after", now=now)
        return _state(case, "resolved", "resolved", body.strip())

    return _act(session, case, user, "resolve", now, version, change)


def close(
    session: Session, case: Case, user: User, body: str, now: datetime, version: int | None = None
) -> CaseEvent:
    """Verify the work and close the case (核查结案).

    A supervisor's finding is closed by the supervisor's check on site; an admin may close it
    without that check only with a written reason, kept on the timeline and in the audit log.
    """
    unverified = is_finding(case) and user.role != "supervisor"
    if unverified and user.role != "admin":
        raise WorkflowError("verification")
    if unverified and not body.strip():
        raise WorkflowError("reason")

    def change() -> CaseEvent:
        case.closed_at = now
        if unverified:
            return _state(case, "closed", "closed_unverified", body.strip())
        if user.role == "supervisor":  # a fix verified on site by the supervisor
            user.points += VERIFY_POINTS
        return _state(case, "closed", "closed", body.strip())

    event = _act(session, case, user, "close", now, version, change)
    if unverified:
        audit.record(
            session,
            user,
            "case.close_unverified",
            "case",
            case.number,
            after={"reason": body.strip()},
            now=now,
        )
    return event


def rework(
    session: Session, case: Case, user: User, reason: str, now: datetime, version: int | None = None
) -> CaseEvent:
    """Send resolved work back to the department with a new resolve deadline (返工)."""
    if not reason.strip():
        raise WorkflowError("reason")

    def change() -> CaseEvent:
        case.resolved_at = None
        case.cycle += 1
        sla.start_clocks(session, case, now, respond=False)
        return _state(case, "dispatched", "rework", reason.strip())

    return _act(session, case, user, "rework", now, version, change)


def assign(
    session: Session,
    case: Case,
    user: User,
    assignee: User | None,
    now: datetime,
    version: int | None = None,
) -> CaseEvent:
    """Give the case to a handler of its department (分配), or to nobody in particular."""
    if assignee is not None and (
        assignee.role != "handler"
        or not assignee.active
        or assignee.department_id != case.department_id
    ):
        raise WorkflowError("assignee")

    def change() -> CaseEvent:
        previous = case.assignee.name if case.assignee else None
        case.assignee = assignee
        name = assignee.name if assignee else None
        return CaseEvent(kind="assigned", public=False, data={"from": previous, "to": name})

    return _act(session, case, user, "assign", now, version, change)


def send_back(
    session: Session, case: Case, user: User, reason: str, now: datetime, version: int | None = None
) -> CaseEvent:
    """Return a misrouted case to the dispatchers with a reason (退回): it waits in their
    待派遣 queue, without a department."""
    if not reason.strip():
        raise WorkflowError("reason")

    def change() -> CaseEvent:
        department = case.department.code if case.department else None
        case.department = None
        case.assignee = None
        case.extension_minutes = None
        event = _state(case, "accepted", "sent_back", reason.strip(), department=department)
        event.public = False  # why a department refused a case is the office's business
        return event

    event = _act(session, case, user, "send_back", now, version, change)
    notify.staff_news(session, case, event, notify.dispatchers(session))
    return event


def request_extension(
    session: Session,
    case: Case,
    user: User,
    reason: str,
    minutes: int,
    now: datetime,
    version: int | None = None,
) -> CaseEvent:
    """Ask the dispatchers for more time to resolve the case (延期申请), with a reason; the
    time counts as the case's policy does (working or calendar minutes)."""
    if not reason.strip():
        raise WorkflowError("reason")
    if not 0 < minutes <= MAX_EXTENSION_MINUTES or case.resolve_due_at is None:
        raise WorkflowError("extension")

    def change() -> CaseEvent:
        case.extension_minutes = minutes
        return CaseEvent(
            kind="extension_requested", public=False, body=reason.strip(), data={"minutes": minutes}
        )

    event = _act(session, case, user, "request_extension", now, version, change)
    notify.staff_news(session, case, event, notify.dispatchers(session))
    return event


def decide_extension(
    session: Session,
    case: Case,
    user: User,
    approve: bool,
    body: str,
    now: datetime,
    version: int | None = None,
) -> CaseEvent:
    """Approve a pending extension, moving the resolve deadline by the time asked, or
    decline it with a reason. The requester hears the answer."""
    if not approve and not body.strip():
        raise WorkflowError("reason")
    action = "approve_extension" if approve else "decline_extension"
    requester = next(
        (e.actor for e in reversed(case.events) if e.kind == "extension_requested"), None
    )

    def change() -> CaseEvent:
        minutes = case.extension_minutes or 0
        case.extension_minutes = None
        if not approve:
            return CaseEvent(
                kind="extension_declined",
                public=False,
                body=body.strip(),
                data={"minutes": minutes},
            )
        before = case.resolve_due_at
        sla.extend(session, case, minutes, now)
        return CaseEvent(
            kind="extension_approved",
            public=False,
            body=body.strip(),
            data={
                "minutes": minutes,
                "department": case.department.code if case.department else None,
                "from": before.isoformat() if before else None,
                "to": case.resolve_due_at.isoformat() if case.resolve_due_at else None,
            },
        )

    event = _act(session, case, user, action, now, version, change)
    if requester is not None and requester.active:
        notify.staff_news(session, case, event, [requester])
    return event


# Where the resident may say "not fixed": as soon as the department says it is done
# (已处置), and after staff closed it.
RESIDENT_REOPEN_STATES = ("resolved", "closed")


def may_reopen_for_resident(case: Case, now: datetime, window: timedelta) -> bool:
    """Tell whether the resident may send the case back as not fixed: once per case, while
    it is resolved, or within the window after it was closed."""
    if case.held or case.reopen_count > 0 or case.state not in RESIDENT_REOPEN_STATES:
        return False
    if case.state == "closed":
        return case.closed_at is not None and now - case.closed_at <= window
    return True


def _send_back(case: Case, now: datetime, session: Session) -> str:
    """Put a resolved or closed case back to work in a new cycle with a new resolve deadline
    (返工); return the state it left."""
    previous = case.state
    case.state = "dispatched" if case.department_id else "accepted"
    case.cycle += 1
    case.closed_at = None
    case.resolved_at = None
    case.extension_minutes = None
    sla.start_clocks(session, case, now, respond=False)
    case.updated_at = case.attention_at = now
    facilities.case_changed(session, case, now)
    return previous


def reopen_for_resident(session: Session, case: Case, reason: str, now: datetime) -> CaseEvent:
    """Send the case back for rework because its resident says it is not fixed (返工): back to
    its department with a new resolve deadline, in a new cycle that asks for a new rating.
    The caller checks `may_reopen_for_resident` (the web page and Open311 alike)."""
    if case.state not in RESIDENT_REOPEN_STATES:
        raise WorkflowError("state")
    case.reopen_count += 1
    previous = _send_back(case, now, session)
    event = CaseEvent(
        case=case,
        kind="reopened",
        from_state=previous,
        to_state=case.state,
        body=reason.strip(),
        created_at=now,
    )
    session.add(event)
    return event


def reopen_rebound(
    session: Session, case: Case, supervisor: User, reason: str, now: datetime, **data: object
) -> CaseEvent:
    """Send a closed case back for rework because a follow-up check on site (回头看) found the
    problem back (反弹): as a rework, which counts against the department, with a new resolve
    deadline. The resident's own one reopening stays theirs."""
    if case.state != "closed":
        raise WorkflowError("state")
    if not reason.strip():
        raise WorkflowError("reason")
    previous = _send_back(case, now, session)
    event = CaseEvent(
        case=case,
        actor=supervisor,
        kind="rework",
        from_state=previous,
        to_state=case.state,
        body=reason.strip(),
        data={"rebound": True, **data},
        created_at=now,
    )
    session.add(event)
    session.flush()
    audit.record(
        session,
        supervisor,
        "case.rebound",
        "case",
        case.number,
        {"state": previous},
        {"state": case.state, **data},
        now=now,
    )
    notify.case_changed(session, case, event)
    return event


def similar(session: Session, case: Case, radius_m: float = 50, days: int = 90) -> list[Case]:
    """Return cases of the same category nearby in the last days, for triage."""
    from portal.services import geo

    min_lat, min_lng, max_lat, max_lng = geo.bbox_around(case.lat, case.lng, radius_m)
    found = session.scalars(
        select(Case)
        .where(
            Case.id != case.id,
            Case.category_id == case.category_id,
            Case.lat.between(min_lat, max_lat),
            Case.lng.between(min_lng, max_lng),
            Case.created_at >= case.created_at - timedelta(days=days),
        )
        .order_by(Case.created_at.desc())
        .limit(20)
    ).all()
    return [c for c in found if geo.distance_m((case.lat, case.lng), (c.lat, c.lng)) <= radius_m]
