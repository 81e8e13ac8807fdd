"""Suggestions (建议): residents send ideas; staff adopt or decline them with a reason, and an
adopted one earns its resident points."""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import BlockedSender, OutboxMessage, Project, Suggestion, User
from portal.services import audit, case_links
from portal.services.cases import hash_token, is_tracking_token, new_tracking_token
from portal.web import public_url_for


class SuggestionError(ValueError):
    """Raised with a code when a suggestion cannot be decided."""


def send(
    session: Session,
    title: str,
    body: str,
    now: datetime,
    project: Project | None = None,
    email: str = "",
    phone: str = "",
    user: User | None = None,
    locale: str = "zh_Hans_CN",
    held: bool = False,
    held_by: BlockedSender | None = None,
) -> tuple[Suggestion, str]:
    """Record a resident's suggestion (held for review if its sender is blocked); return it
    with its private tracking token."""
    token, token_hash = new_tracking_token()
    suggestion = Suggestion(
        title=title.strip(),
        body=body.strip(),
        project=project,
        email=email.strip().lower(),
        phone=phone.strip(),
        user=user,
        tracking_token_hash=token_hash,
        locale=locale,
        held=held or held_by is not None,
        blocked_sender_id=held_by.id if held_by else None,
        created_at=now,
    )
    session.add(suggestion)
    session.flush()
    return suggestion, token


# Mails carry a signed stand-in of the private token (only its hash is kept), as for cases.
PRIVATE_SALT = "suggestion-private-link"


def find(session: Session, token: str) -> Suggestion | None:
    """Return the suggestion a private tracking token, or the signed link a mail carried,
    belongs to."""
    if case_links.is_signed_link(token):
        found = case_links.signed_record(PRIVATE_SALT, token)
        suggestion = session.get(Suggestion, found[0]) if found else None
        if suggestion is None or not case_links.holds_prefix(
            suggestion.tracking_token_hash, found[1]
        ):
            return None
        return suggestion
    if not is_tracking_token(token):
        return None
    return session.scalar(
        select(Suggestion).where(Suggestion.tracking_token_hash == hash_token(token))
    )


def private_url(suggestion: Suggestion) -> str:
    """Return the absolute private link of a suggestion, for the mails to its resident."""
    token = case_links.signed_token(PRIVATE_SALT, suggestion.id, suggestion.tracking_token_hash)
    return public_url_for("public.suggestion_track", token=token)


def adopt(session: Session, user: User, suggestion: Suggestion, answer: str, now: datetime) -> None:
    """Adopt a suggestion with the office's answer, awarding the resident their points: on
    their account if they were signed in, else on the tracking link."""
    points = current_app.config["SUGGESTION_POINTS"]
    _decide(session, user, suggestion, "adopted", answer, now, points)
    if suggestion.user is not None:
        suggestion.user.points += points


def decline(
    session: Session, user: User, suggestion: Suggestion, reason: str, now: datetime
) -> None:
    """Decline a suggestion with the reason the resident will read."""
    _decide(session, user, suggestion, "declined", reason, now, 0)


def _decide(
    session: Session,
    user: User,
    suggestion: Suggestion,
    status: str,
    reason: str,
    now: datetime,
    points: int,
) -> None:
    if suggestion.status != "new" or suggestion.held:
        raise SuggestionError("decided")
    if not reason.strip():
        raise SuggestionError("reason")
    suggestion.status, suggestion.reason, suggestion.points = status, reason.strip(), points
    suggestion.decided_by_id, suggestion.decided_at = user.id, now
    audit.record(
        session,
        user,
        f"suggestion.{'adopt' if status == 'adopted' else 'decline'}",
        "suggestion",
        suggestion.id,
        before={"status": "new"},
        after={
            "status": status,
            "reason": suggestion.reason,
            "points": points,
            "account": suggestion.user_id,
        },
        now=now,
    )
    if suggestion.email:
        _tell_resident(session, suggestion)


def _tell_resident(session: Session, suggestion: Suggestion) -> None:
    """Write the decision to the outbox, in the language the resident wrote in."""
    with force_locale(suggestion.locale):
        subject = (
            _("Your suggestion was adopted")
            if suggestion.status == "adopted"
            else _("Your suggestion was not adopted")
        )
        lines = [
            _("Your suggestion: %(title)s", title=suggestion.title),
            _("The office's answer: %(reason)s", reason=suggestion.reason),
        ]
        if suggestion.points:
            lines.append(_("Points earned: %(points)d", points=suggestion.points))
        lines += [
            "",
            _(
                "See the answer and your points on your suggestion's page: %(url)s",
                url=private_url(suggestion),
            ),
            "",
            _("Thank you for taking part."),
        ]
    session.add(
        OutboxMessage(
            recipient=suggestion.email,
            subject=subject,
            body="\n".join(lines),
            kind=f"suggestion.{suggestion.status}",
        )
    )


def adopted(session: Session, limit: int = 100) -> list[Suggestion]:
    """Return the adopted suggestions, latest decision first (the public list)."""
    return session.scalars(
        select(Suggestion)
        .where(Suggestion.status == "adopted")
        .order_by(Suggestion.decided_at.desc(), Suggestion.id.desc())
        .limit(limit)
    ).all()
