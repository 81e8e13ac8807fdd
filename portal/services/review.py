"""What blocked senders sent, held for review: staff release it (it then goes on as any
other) or reject it (it stays out of sight for good). Every decision is audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select, union_all
from sqlalchemy.orm import Session

from portal.models import Case, CaseEvent, ConsultationComment, Suggestion, User
from portal.services import audit, facilities, notify, sla


class ReviewError(ValueError):
    """Raised with a code when a held item cannot be decided: decided or reason."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class Held:
    """Everything waiting for review, oldest first."""

    cases: list[Case]
    comments: list[ConsultationComment]
    suggestions: list[Suggestion]

    def __len__(self) -> int:
        return len(self.cases) + len(self.comments) + len(self.suggestions)


# Held and not decided yet: a released item is no longer held, a rejected one is closed.
def _waiting_cases():
    return and_(Case.held.is_(True), Case.state == "submitted")


def _waiting_comments():
    return and_(ConsultationComment.held.is_(True), ConsultationComment.status == "pending")


def _waiting_suggestions():
    return and_(Suggestion.held.is_(True), Suggestion.status == "new")


def held(session: Session) -> Held:
    """Return the held cases, comments and suggestions not decided yet."""
    return Held(
        cases=list(
            session.scalars(select(Case).where(_waiting_cases()).order_by(Case.created_at, Case.id))
        ),
        comments=list(
            session.scalars(
                select(ConsultationComment)
                .where(_waiting_comments())
                .order_by(ConsultationComment.created_at, ConsultationComment.id)
            )
        ),
        suggestions=list(
            session.scalars(
                select(Suggestion)
                .where(_waiting_suggestions())
                .order_by(Suggestion.created_at, Suggestion.id)
            )
        ),
    )


def waiting_by_entry(session: Session) -> dict[int, int]:
    """Count what each block-list entry holds that is not decided yet, in one query."""
    waiting = union_all(
        select(Case.blocked_sender_id.label("entry")).where(_waiting_cases()),
        select(ConsultationComment.blocked_sender_id).where(_waiting_comments()),
        select(Suggestion.blocked_sender_id).where(_waiting_suggestions()),
    ).subquery()
    counts = session.execute(
        select(waiting.c.entry, func.count())
        .where(waiting.c.entry.is_not(None))
        .group_by(waiting.c.entry)
    )
    return {entry: count for entry, count in counts}


def release_case(session: Session, user: User, case: Case, now: datetime) -> None:
    """Let a held case go on as any new one: its clocks start and its reporter hears of it."""
    if not case.held or case.state != "submitted":
        raise ReviewError("decided")
    case.held = False
    case.updated_at = now
    sla.start_clocks(session, case, now)
    session.add(CaseEvent(case=case, kind="released", public=False, actor=user, created_at=now))
    session.flush()
    facilities.case_changed(session, case, now, user)
    audit.record(
        session, user, "case.release", "case", case.number, {"held": True}, {"held": False}, now
    )
    received = next((e for e in case.events if e.kind == "submitted"), None)
    if received is not None:
        notify.case_changed(session, case, received)


def reject_case(session: Session, user: User, case: Case, reason: str, now: datetime) -> None:
    """Close a held case as spam or invalid; it stays out of public sight and nobody is told."""
    if not case.held or case.state != "submitted":
        raise ReviewError("decided")
    if not reason.strip():
        raise ReviewError("reason")
    case.state, case.updated_at = "rejected", now
    session.add(
        CaseEvent(
            case=case,
            kind="rejected",
            public=False,
            from_state="submitted",
            to_state="rejected",
            body=reason.strip(),
            actor=user,
            created_at=now,
        )
    )
    session.flush()
    audit.record(
        session,
        user,
        "case.reject_held",
        "case",
        case.number,
        {"state": "submitted", "held": True},
        {"state": "rejected", "held": True, "reason": reason.strip()},
        now,
    )


def release_comment(
    session: Session, user: User, comment: ConsultationComment, now: datetime
) -> None:
    """Put a held comment into the ordinary moderation queue."""
    _release(session, user, comment, comment.status == "pending", "consultation_comment", now)


def release_suggestion(session: Session, user: User, suggestion: Suggestion, now: datetime) -> None:
    """Put a held suggestion into the office's ordinary list."""
    _release(session, user, suggestion, suggestion.status == "new", "suggestion", now)


def _release(
    session: Session,
    user: User,
    item: ConsultationComment | Suggestion,
    undecided: bool,
    kind: str,
    now: datetime,
) -> None:
    if not item.held or not undecided:
        raise ReviewError("decided")
    item.held = False
    audit.record(
        session, user, f"{kind}.release", kind, item.id, {"held": True}, {"held": False}, now
    )


def reject_comment(
    session: Session, user: User, comment: ConsultationComment, reason: str, now: datetime
) -> None:
    """Decline a held comment as spam or invalid, without telling anyone."""
    if not comment.held or comment.status != "pending":
        raise ReviewError("decided")
    _reject(session, user, comment, "declined", reason, "consultation_comment", now)
    comment.moderated_by_id, comment.moderated_at = user.id, now


def reject_suggestion(
    session: Session, user: User, suggestion: Suggestion, reason: str, now: datetime
) -> None:
    """Decline a held suggestion as spam or invalid, without telling anyone."""
    if not suggestion.held or suggestion.status != "new":
        raise ReviewError("decided")
    _reject(session, user, suggestion, "declined", reason, "suggestion", now)
    suggestion.decided_by_id, suggestion.decided_at = user.id, now


def _reject(
    session: Session,
    user: User,
    item: ConsultationComment | Suggestion,
    status: str,
    reason: str,
    kind: str,
    now: datetime,
) -> None:
    if not reason.strip():
        raise ReviewError("reason")
    before = {"status": item.status, "held": True}
    item.status, item.reason = status, reason.strip()
    after = {"status": status, "held": True, "reason": item.reason}
    audit.record(session, user, f"{kind}.reject_held", kind, item.id, before, after, now)
