"""Consultations (征求意见): a planned project open for comments until a date, moderation of
the comments, and the office's response once it closes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import (
    CONSULTED_PHASES,
    BlockedSender,
    Consultation,
    ConsultationComment,
    Project,
    User,
)
from portal.services import audit
from portal.services.cases import hash_token, is_tracking_token, new_tracking_token


class ConsultationError(ValueError):
    """Raised with a code when a consultation or a comment does not allow an action."""


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


def local_today(now: datetime) -> date:
    """Return the office's calendar date at a moment."""
    return now.astimezone(_zone()).date()


def closes_at(consultation: Consultation) -> datetime:
    """Return the moment comments stop: the end of the closing day in the office's time."""
    midnight = datetime.combine(consultation.closes_on + timedelta(days=1), time(0), _zone())
    return midnight.astimezone(UTC)


def is_open(consultation: Consultation, now: datetime) -> bool:
    """Tell whether the consultation takes comments at a moment."""
    return consultation.opens_at <= now < closes_at(consultation)


def has_closed(consultation: Consultation, now: datetime) -> bool:
    """Tell whether the closing day is over."""
    return now >= closes_at(consultation)


def start(
    session: Session,
    user: User,
    project: Project,
    title: str,
    question: str,
    closes_on: date,
    now: datetime,
) -> Consultation:
    """Open a planned project for public comments until the end of a day."""
    if project.phase not in CONSULTED_PHASES:
        raise ConsultationError("phase")
    if closes_on < local_today(now):
        raise ConsultationError("date")
    if not title.strip() or not question.strip():
        raise ConsultationError("text")
    consultation = Consultation(
        project=project,
        title=title.strip(),
        question=question.strip(),
        opens_at=now,
        closes_on=closes_on,
        created_by_id=user.id,
        created_at=now,
    )
    session.add(consultation)
    session.flush()
    audit.record(
        session,
        user,
        "consultation.open",
        "consultation",
        consultation.id,
        after={"project": project.code, "title": consultation.title, "closes_on": str(closes_on)},
        now=now,
    )
    return consultation


def add_comment(
    session: Session,
    consultation: Consultation,
    body: str,
    now: datetime,
    display_name: str = "",
    email: str = "",
    phone: str = "",
    locale: str = "zh_Hans_CN",
    held: bool = False,
    held_by: BlockedSender | None = None,
) -> tuple[ConsultationComment, str]:
    """Take a resident's comment for moderation (held for review first if its sender is
    blocked); return it with its private token."""
    if not is_open(consultation, now):
        raise ConsultationError("closed")
    token, token_hash = new_tracking_token()
    comment = ConsultationComment(
        consultation=consultation,
        body=body.strip(),
        display_name=display_name.strip(),
        email=email.strip().lower(),
        phone=phone.strip(),
        tracking_token_hash=token_hash,
        locale=locale,
        held=held or held_by is not None,
        blocked_sender_id=held_by.id if held_by else None,
        created_at=now,
    )
    session.add(comment)
    session.flush()
    return comment, token


def find_comment(session: Session, token: str) -> ConsultationComment | None:
    """Return the comment a private token belongs to."""
    if not is_tracking_token(token):
        return None
    return session.scalar(
        select(ConsultationComment).where(
            ConsultationComment.tracking_token_hash == hash_token(token)
        )
    )


def approve(session: Session, user: User, comment: ConsultationComment, now: datetime) -> None:
    """Let a pending comment show on the consultation's page."""
    _moderate(session, user, comment, "approved", "", now)


def decline(
    session: Session, user: User, comment: ConsultationComment, reason: str, now: datetime
) -> None:
    """Keep a pending comment off the page, with the reason its author will read."""
    if not reason.strip():
        raise ConsultationError("reason")
    _moderate(session, user, comment, "declined", reason.strip(), now)


def _moderate(
    session: Session,
    user: User,
    comment: ConsultationComment,
    status: str,
    reason: str,
    now: datetime,
) -> None:
    if comment.status != "pending" or comment.held:
        raise ConsultationError("decided")
    comment.status, comment.reason = status, reason
    comment.moderated_by_id, comment.moderated_at = user.id, now
    audit.record(
        session,
        user,
        f"consultation.comment.{'approve' if status == 'approved' else 'decline'}",
        "consultation_comment",
        comment.id,
        before={"status": "pending"},
        after={"status": status, "reason": reason},
        now=now,
    )


def respond(
    session: Session, user: User, consultation: Consultation, response: str, now: datetime
) -> None:
    """Publish the office's response summary once the consultation has closed."""
    if not has_closed(consultation, now):
        raise ConsultationError("open")
    if consultation.responded_at is not None:
        raise ConsultationError("responded")
    if not response.strip():
        raise ConsultationError("response")
    consultation.response = response.strip()
    consultation.responded_by_id, consultation.responded_at = user.id, now
    audit.record(
        session,
        user,
        "consultation.respond",
        "consultation",
        consultation.id,
        after={"response": consultation.response},
        now=now,
    )


def public(
    session: Session, now: datetime, project: Project | None = None
) -> tuple[list[Consultation], list[Consultation]]:
    """Return the consultations the public sees (of one project, if given): open ones (closing
    soonest first), then the closed ones (latest first)."""
    query = select(Consultation).where(Consultation.opens_at <= now)
    if project is not None:
        query = query.where(Consultation.project_id == project.id)
    started = session.scalars(
        query.order_by(Consultation.closes_on.desc(), Consultation.id.desc())
    ).all()
    open_ = sorted((c for c in started if is_open(c, now)), key=lambda c: c.closes_on)
    return open_, [c for c in started if has_closed(c, now)]


def approved_comments(session: Session, consultation: Consultation) -> list[ConsultationComment]:
    """Return the comments moderators let through, oldest first."""
    return session.scalars(
        select(ConsultationComment)
        .where(
            ConsultationComment.consultation_id == consultation.id,
            ConsultationComment.status == "approved",
        )
        .order_by(ConsultationComment.created_at, ConsultationComment.id)
    ).all()


def pending_comments(session: Session) -> list[ConsultationComment]:
    """Return the moderation queue: pending comments, oldest first."""
    return session.scalars(
        select(ConsultationComment)
        .where(ConsultationComment.status == "pending", ConsultationComment.held.is_(False))
        .order_by(ConsultationComment.created_at, ConsultationComment.id)
    ).all()
