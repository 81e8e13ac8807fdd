"""Residents' personal data: who may read a reporter's contact, erasing it when the resident
asks, and purging what is older than the retention period. The cases themselves stay."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from portal.models import (
    AuditEntry,
    Case,
    CaseEvent,
    CaseFollower,
    ConsultationComment,
    OutboxMessage,
    Suggestion,
    SupervisorApplication,
    User,
)
from portal.services import audit

ERASE_SALT = "privacy-erase-contacts"
ANSWERED_STATES = ("closed", "rejected", "duplicate")


def may_see_contacts(user: User, case: Case | None = None) -> bool:
    """Tell whether a staff member may read reporters' contacts: dispatchers and admins, and
    handlers for the cases of their own department (without a case: of their queue, which
    holds only those)."""
    if user.role in ("dispatcher", "admin"):
        return True
    if user.role != "handler":
        return False
    return case is None or (
        case.department_id is not None and case.department_id == user.department_id
    )


def _record(session: Session, action: str, object_type: str, object_id: str, after: dict) -> None:
    """Audit a resident's erasure without any personal data, not even their address."""
    entry = audit.record(
        session, None, action, object_type, object_id, after=after, actor_label="resident"
    )
    entry.address = ""


def erase_case_contact(session: Session, case: Case, now: datetime) -> None:
    """Erase the reporter's name, phone and e-mail on one case (asked from its private page)."""
    case.reporter_name = case.reporter_phone = case.reporter_email = ""
    case.updated_at = now
    session.add(CaseEvent(case=case, kind="contact_erased", public=False, created_at=now))
    session.flush()
    _record(session, "privacy.erase_case", "case", case.number, {"contact_erased": True})


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=ERASE_SALT)


def holds_email(session: Session, email: str) -> bool:
    """Tell whether any case, follow, comment or suggestion carries this e-mail."""
    for column in (
        Case.reporter_email,
        CaseFollower.email,
        ConsultationComment.email,
        Suggestion.email,
    ):
        if session.scalar(select(column).where(column == email).limit(1)) is not None:
            return True
    return False


def request_erasure(
    session: Session, email: str, link_for: Callable[[str], str], locale: str
) -> bool:
    """Mail a signed, expiring link that erases every contact with this e-mail, if the portal
    holds any; tell whether a link was sent (the resident is told the same either way)."""
    email = email.strip().lower()
    if not email or not holds_email(session, email):
        return False
    link = link_for(_serializer().dumps(email))
    hours = current_app.config["PRIVACY_LINK_HOURS"]
    with force_locale(locale):
        subject = _("Erase your contact details from your reports")
        body = "\n".join(
            [
                _(
                    "Someone, probably you, asked to erase the contact details given with "
                    "reports, follows, comments and suggestions under this e-mail address."
                ),
                _("The cases stay, without your name, phone or e-mail."),
                "",
                _("To confirm, open this link within %(hours)d hours:", hours=hours),
                link,
                "",
                _("If you did not ask for this, ignore this message: nothing changes."),
            ]
        )
    session.add(OutboxMessage(recipient=email, subject=subject, body=body, kind="privacy.erase"))
    return True


def email_of_link(token: str) -> str | None:
    """Return the e-mail a confirmation link stands for, or None if it is forged or expired."""
    max_age = current_app.config["PRIVACY_LINK_HOURS"] * 3600
    try:
        email = _serializer().loads(token, max_age=max_age)
    except BadSignature:  # also raised for an expired link
        return None
    return email if isinstance(email, str) else None


def erase_email(session: Session, email: str, now: datetime) -> dict[str, int]:
    """Erase name, phone and e-mail wherever they came with this e-mail: the reports (which
    stay), the follows, the comments and suggestions; and the mail addressed to it."""
    email = email.strip().lower()
    counts = {}
    reported = list(session.scalars(select(Case).where(Case.reporter_email == email)))
    for case in reported:
        case.reporter_name = case.reporter_phone = case.reporter_email = ""
        case.updated_at = now
        session.add(CaseEvent(case=case, kind="contact_erased", public=False, created_at=now))
    counts["cases"] = len(reported)
    counts["followers"] = _blank(
        session, CaseFollower, CaseFollower.email == email, email="", phone=""
    )
    counts["comments"] = _blank(
        session,
        ConsultationComment,
        ConsultationComment.email == email,
        email="",
        phone="",
        display_name="",
    )
    counts["suggestions"] = _blank(
        session, Suggestion, Suggestion.email == email, email="", phone=""
    )
    counts["outbox"] = _forget_mail(session, OutboxMessage.recipient == email)
    session.flush()
    _record(session, "privacy.erase_email", "resident", "-", counts)
    return counts


def _blank(session: Session, model, condition: ColumnElement[bool], **values: str) -> int:
    """Blank the given columns of the rows matching a condition; return how many rows."""
    result = session.execute(
        update(model).where(condition).values(**values).execution_options(synchronize_session=False)
    )
    return result.rowcount


def _forget_mail(session: Session, condition: ColumnElement[bool]) -> int:
    """Blank the address of sent mail and drop unsent mail matching a condition."""
    sent = _blank(
        session, OutboxMessage, and_(condition, OutboxMessage.sent_at.is_not(None)), recipient=""
    )
    unsent = session.execute(
        delete(OutboxMessage)
        .where(condition, OutboxMessage.sent_at.is_(None))
        .execution_options(synchronize_session=False)
    ).rowcount
    return sent + unsent


def _has_contact(*columns) -> ColumnElement[bool]:
    return or_(*(column != "" for column in columns))


def purge_targets(cutoff: datetime) -> dict[str, tuple[type, ColumnElement[bool]]]:
    """Return, for each kind of personal data, its table and the rows older than the cutoff."""
    answered_before = and_(
        Case.state.in_(ANSWERED_STATES), func.coalesce(Case.closed_at, Case.updated_at) < cutoff
    )
    old_cases = select(Case.id).where(answered_before)
    return {
        "cases": (
            Case,
            and_(
                answered_before,
                _has_contact(Case.reporter_name, Case.reporter_phone, Case.reporter_email),
            ),
        ),
        "followers": (
            CaseFollower,
            and_(
                CaseFollower.case_id.in_(old_cases),
                _has_contact(CaseFollower.email, CaseFollower.phone),
            ),
        ),
        "comments": (
            ConsultationComment,
            and_(
                ConsultationComment.created_at < cutoff,
                _has_contact(ConsultationComment.email, ConsultationComment.phone),
            ),
        ),
        "suggestions": (
            Suggestion,
            and_(
                Suggestion.status != "new",
                Suggestion.created_at < cutoff,
                _has_contact(Suggestion.email, Suggestion.phone),
            ),
        ),
        "declined_applications": (
            SupervisorApplication,
            and_(
                SupervisorApplication.status == "declined",
                SupervisorApplication.decided_at < cutoff,
            ),
        ),
        # Residents' and visitors' addresses; staff actions keep theirs (accountability).
        "addresses": (
            AuditEntry,
            and_(
                AuditEntry.actor_id.is_(None),
                AuditEntry.created_at < cutoff,
                AuditEntry.address.not_in(("", "cli")),
            ),
        ),
        "outbox": (
            OutboxMessage,
            and_(OutboxMessage.created_at < cutoff, OutboxMessage.recipient != ""),
        ),
    }


def purge(
    session: Session, now: datetime, older_than: timedelta, dry_run: bool = False
) -> dict[str, int]:
    """Erase personal data older than the retention period; return how many rows of each
    kind were (or, with dry_run, would be) erased."""
    targets = purge_targets(now - older_than)
    counts = {
        name: session.scalar(select(func.count()).select_from(model).where(condition))
        for name, (model, condition) in targets.items()
    }
    if dry_run:
        return counts
    contact = {"reporter_name": "", "reporter_phone": "", "reporter_email": ""}
    _blank(session, Case, targets["cases"][1], **contact)
    _blank(session, CaseFollower, targets["followers"][1], email="", phone="")
    _blank(session, ConsultationComment, targets["comments"][1], email="", phone="")
    _blank(session, Suggestion, targets["suggestions"][1], email="", phone="")
    session.execute(
        delete(SupervisorApplication)
        .where(targets["declined_applications"][1])
        .execution_options(synchronize_session=False)
    )
    _blank(session, AuditEntry, targets["addresses"][1], address="")
    _forget_mail(session, targets["outbox"][1])
    audit.record(
        session,
        None,
        "privacy.purge",
        "personal_data",
        f"{older_than.days}d",
        after=counts,
        now=now,
        actor_label="system: retention period",
    )
    return counts
