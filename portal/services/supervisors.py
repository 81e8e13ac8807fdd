"""Becoming a citizen supervisor: applications, approval with an account, refusal."""

from __future__ import annotations

from datetime import datetime

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import OutboxMessage, SupervisorApplication, User, Zone
from portal.services import accounts, audit, password_links
from portal.web import public_url_for


class ApplicationError(ValueError):
    """Raised with a code when an application cannot be taken or decided."""


def apply(
    session: Session,
    name: str,
    phone: str,
    email: str,
    zone: Zone | None,
    motivation: str,
    now: datetime,
    *,
    agreed_at: datetime,
) -> SupervisorApplication:
    """Record a resident's application and when they agreed to the code of conduct."""
    email = email.strip().lower()
    pending = session.scalar(
        select(func.count())
        .select_from(SupervisorApplication)
        .where(SupervisorApplication.email == email, SupervisorApplication.status == "pending")
    )
    if pending or session.scalar(select(User.id).where(User.email == email)):
        raise ApplicationError("exists")
    application = SupervisorApplication(
        name=name.strip(),
        phone=phone.strip(),
        email=email,
        zone=zone,
        motivation=motivation.strip(),
        agreed_at=agreed_at,
        created_at=now,
    )
    session.add(application)
    session.flush()
    return application


def _mail(session: Session, to: str, subject: str, body: str) -> None:
    session.add(OutboxMessage(recipient=to, subject=subject, body=body, kind="supervisor"))


def approve(
    session: Session, admin: User, application: SupervisorApplication, now: datetime
) -> User:
    """Approve: create the supervisor's account and mail a link to choose its password."""
    if application.status != "pending":
        raise ApplicationError("decided")
    user = accounts.create(
        session, admin, application.email, application.name, "supervisor", now=now
    )
    user.zone = application.zone
    application.status, application.user = "approved", user
    application.decided_by_id, application.decided_at = admin.id, now
    with force_locale("zh_Hans_CN"):
        _mail(
            session,
            user.email,
            _("You are now a citizen supervisor"),
            "\n".join(
                [
                    _(
                        "Your application was approved. Sign in at %(url)s",
                        url=public_url_for("auth.login"),
                    ),
                    _("E-mail: %(email)s", email=user.email),
                    _(
                        "Choose your password within %(days)d days; the link works once:",
                        days=password_links.link_days(),
                    ),
                    password_links.link(user, password_links.SETUP),
                ]
            ),
        )
    audit.record(
        session,
        admin,
        "supervisor.approve",
        "supervisor_application",
        application.id,
        after={"user": user.id},
        now=now,
    )
    return user


def decline(
    session: Session, admin: User, application: SupervisorApplication, reason: str, now: datetime
) -> None:
    """Decline with a reason, told to the applicant."""
    if application.status != "pending":
        raise ApplicationError("decided")
    if not reason.strip():
        raise ApplicationError("reason")
    application.status, application.reason = "declined", reason.strip()
    application.decided_by_id, application.decided_at = admin.id, now
    with force_locale("zh_Hans_CN"):
        _mail(
            session,
            application.email,
            _("Your citizen supervisor application"),
            _(
                "We are sorry: your application was not approved. Reason: %(reason)s",
                reason=application.reason,
            ),
        )
    audit.record(
        session,
        admin,
        "supervisor.decline",
        "supervisor_application",
        application.id,
        after={"reason": application.reason},
        now=now,
    )


def suspend(session: Session, admin: User, supervisor: User, reason: str, now: datetime) -> None:
    """Suspend a supervisor, with a reason: signed out, no sign-in, no spot checks."""
    if supervisor.role != "supervisor" or supervisor.suspended_at is not None:
        raise ApplicationError("state")
    if not reason.strip():
        raise ApplicationError("reason")
    supervisor.suspended_at, supervisor.suspension_reason = now, reason.strip()
    accounts.end_sessions(supervisor)
    audit.record(
        session,
        admin,
        "supervisor.suspend",
        "account",
        supervisor.id,
        after={"reason": supervisor.suspension_reason},
        now=now,
    )


def reinstate(session: Session, admin: User, supervisor: User, reason: str, now: datetime) -> None:
    """Lift a supervisor's suspension, with a reason."""
    if supervisor.role != "supervisor" or supervisor.suspended_at is None:
        raise ApplicationError("state")
    if not reason.strip():
        raise ApplicationError("reason")
    before = {
        "suspended_at": supervisor.suspended_at,
        "reason": supervisor.suspension_reason,
    }
    supervisor.suspended_at, supervisor.suspension_reason = None, ""
    audit.record(
        session,
        admin,
        "supervisor.reinstate",
        "account",
        supervisor.id,
        before=before,
        after={"reason": reason.strip()},
        now=now,
    )
