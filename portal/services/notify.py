"""Who hears about what: e-mails written to the outbox, in each reader's language."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Case, CaseEvent, CaseFollower, OutboxMessage, User
from portal.web import public_url_for


def _queue(
    session: Session, recipient: str, subject: str, body: str, kind: str, case: Case
) -> None:
    session.add(
        OutboxMessage(recipient=recipient, subject=subject, body=body, kind=kind, case=case)
    )


def _case_url(case: Case) -> str:
    return public_url_for("public.case_page", number=case.number)


def _resident_message(case: Case, event: CaseEvent, locale: str) -> tuple[str, str]:
    from portal.web import event_label, state_label

    with force_locale(locale):
        subject = _("Case %(number)s: %(what)s", number=case.number, what=event_label(event.kind))
        lines = [
            _(
                "There is news about case %(number)s (%(category)s).",
                number=case.number,
                category=case.category.name,
            ),
            _("State: %(state)s", state=state_label(case.state)),
        ]
        if event.body:
            lines += ["", event.body]
        lines += ["", _("Follow the case: %(url)s", url=_case_url(case))]
    return subject, "\n".join(lines)


def residents(session: Session, case: Case) -> list[tuple[str, str]]:
    """Return (e-mail, locale) of the reporter and the followers who left an e-mail; the
    reporter of a case another system posted only when its API key allows it."""
    found = {}
    # That system keeps its own users informed; a second voice would confuse them.
    silenced = case.api_key is not None and not case.api_key.mail_reporters
    if case.reporter_email and not silenced:
        found[case.reporter_email] = case.reporter_locale
    for follower in session.scalars(
        select(CaseFollower).where(CaseFollower.case_id == case.id, CaseFollower.email != "")
    ):
        found.setdefault(follower.email, follower.locale)
    return list(found.items())


def staff(session: Session, case: Case, heads: bool, dispatchers: bool) -> list[User]:
    """Return the handlers of the case's department; with `heads`, its head and the head of
    its parent department; with `dispatchers`, every dispatcher."""
    people: dict[int, User] = {}
    if case.department_id:
        for user in session.scalars(
            select(User).where(
                User.department_id == case.department_id, User.role == "handler", User.active
            )
        ):
            people[user.id] = user
        if heads:
            # The department's head, and the head of the department it escalates to.
            for department in (case.department, case.department.parent):
                head = department.head if department is not None else None
                if head is not None and head.active:
                    people[head.id] = head
    if dispatchers or not case.department_id:
        for user in session.scalars(select(User).where(User.role == "dispatcher", User.active)):
            people[user.id] = user
    return list(people.values())


def case_changed(session: Session, case: Case, event: CaseEvent, to_staff: bool = False) -> None:
    """Tell the residents about a public change; and staff, when the resident answered."""
    for email, locale in residents(session, case):
        subject, body = _resident_message(case, event, locale)
        _queue(session, email, subject, body, f"resident.{event.kind}", case)
    if to_staff:
        for user in staff(session, case, heads=False, dispatchers=False):
            subject, body = _resident_message(case, event, user.locale)
            _queue(session, user.email, subject, body, f"staff.{event.kind}", case)


def comment_received(session: Session, case: Case, event: CaseEvent) -> None:
    """Tell the handlers of the case (its dispatchers while it has no department) that a
    resident commented through another system."""
    for user in staff(session, case, heads=False, dispatchers=False):
        subject, body = _resident_message(case, event, user.locale)
        _queue(session, user.email, subject, body, f"staff.{event.kind}", case)


def escalation(session: Session, case: Case, clock: str, overdue: bool) -> int:
    """Remind the handlers at 75% of a deadline; at 100% tell the head and the dispatchers too."""
    due = case.respond_due_at if clock == "respond" else case.resolve_due_at
    people = staff(session, case, heads=overdue, dispatchers=overdue)
    tz = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    for user in people:
        with force_locale(user.locale):
            what = _("response") if clock == "respond" else _("resolution")
            if overdue:
                subject = _(
                    "OVERDUE: case %(number)s missed its %(what)s deadline",
                    number=case.number,
                    what=what,
                )
            else:
                subject = _(
                    "Reminder: case %(number)s is due for %(what)s soon",
                    number=case.number,
                    what=what,
                )
            body = "\n".join(
                [
                    subject,
                    _("Category: %(category)s", category=case.category.name),
                    _("Deadline: %(due)s", due=due.astimezone(tz).strftime("%Y-%m-%d %H:%M")),
                    _(
                        "Open it: %(url)s",
                        url=public_url_for("admin.case_page", number=case.number),
                    ),
                ]
            )
        _queue(session, user.email, subject, body, f"escalation.{clock}", case)
    return len(people)
