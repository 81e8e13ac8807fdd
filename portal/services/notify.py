"""Who hears about what: e-mails written to the outbox, in each reader's language."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Case, CaseEvent, CaseFollower, OutboxMessage, User
from portal.services import case_links
from portal.web import public_url_for


def _queue(
    session: Session, recipient: str, subject: str, body: str, kind: str, case: Case
) -> None:
    session.add(
        OutboxMessage(recipient=recipient, subject=subject, body=body, kind=kind, case=case)
    )


def _case_url(case: Case) -> str:
    return public_url_for("public.case_page", number=case.number)


# What a message asks of the reporter: the anchor of the form on the private page, and how
# the message points to it. Other messages point to the private page as a whole.
ACTIONS = {
    "info_requested": ("answer", _l("Answer the office's question here: %(url)s")),
    "resolved": ("feedback", _l("Is it fixed? Tell us here: %(url)s")),
    "closed": ("feedback", _l("Rate the answer, or reopen the case if it is not fixed: %(url)s")),
    "closed_unverified": (
        "feedback",
        _l("Rate the answer, or reopen the case if it is not fixed: %(url)s"),
    ),
}


@dataclass
class Reader:
    """Someone a case's news goes to: its reporter (who gets the private link) or a follower
    (who gets the public page and a way to stop the mail)."""

    email: str
    locale: str
    follower: CaseFollower | None = None


def _resident_message(
    case: Case,
    event: CaseEvent,
    locale: str,
    reader: Reader | None = None,
    query_code: str | None = None,
) -> tuple[str, str]:
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
        lines.append("")
        if reader is not None and reader.follower is None:
            lines += _reporter_lines(case, event, query_code)
        else:
            lines.append(_("Follow the case: %(url)s", url=_case_url(case)))
        if reader is not None and reader.follower is not None:
            url = case_links.unsubscribe_url(reader.follower)
            lines += ["", _("Stop the mails about this case: %(url)s", url=url)]
    return subject, "\n".join(lines)


def _reporter_lines(case: Case, event: CaseEvent, query_code: str | None) -> list[str]:
    """Return what only the reporter reads: the private link, to the action asked."""
    lines = []
    anchor, asked = ACTIONS.get(event.kind, ("", None))
    if asked is not None:
        lines.append(str(asked) % {"url": case_links.private_url(case, anchor)})
    lines.append(
        _(
            "Your private page (keep it to yourself: with it you answer, rate and reopen): %(url)s",
            url=case_links.private_url(case),
        )
    )
    if query_code:
        lines += [
            "",
            _(
                "Your query code is %(code)s. With the case number %(number)s it opens your "
                "private page from any device: %(url)s",
                code=query_code,
                number=case.number,
                url=public_url_for("public.track_lookup"),
            ),
        ]
    return lines


def readers(session: Session, case: Case) -> list[Reader]:
    """Return the reporter and the followers who left an e-mail, each address once; the
    reporter of a case another system posted only when its API key allows it."""
    found: dict[str, Reader] = {}
    # That system keeps its own users informed; a second voice would confuse them.
    silenced = case.api_key is not None and not case.api_key.mail_reporters
    if case.reporter_email and not silenced:
        found[case.reporter_email] = Reader(case.reporter_email, case.reporter_locale)
    for follower in session.scalars(
        select(CaseFollower)
        .where(CaseFollower.case_id == case.id, CaseFollower.email != "")
        .order_by(CaseFollower.id)
    ):
        found.setdefault(follower.email, Reader(follower.email, follower.locale, follower))
    return list(found.values())


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


def case_changed(
    session: Session,
    case: Case,
    event: CaseEvent,
    to_staff: bool = False,
    query_code: str | None = None,
) -> None:
    """Tell the residents about a public change (the reporter with the private link, and a new
    case's query code); and staff, when the resident answered."""
    for reader in readers(session, case):
        subject, body = _resident_message(case, event, reader.locale, reader, query_code)
        _queue(session, reader.email, subject, body, f"resident.{event.kind}", case)
    if to_staff:
        staff_news(session, case, event, handlers(session, case))


def handlers(session: Session, case: Case) -> list[User]:
    """Return who works the case now: its assignee, else its department's handlers, else
    (no department yet) the dispatchers."""
    if case.assignee is not None and case.assignee.active:
        return [case.assignee]
    return staff(session, case, heads=False, dispatchers=False)


def dispatchers(session: Session) -> list[User]:
    """Return the active dispatchers."""
    return list(session.scalars(select(User).where(User.role == "dispatcher", User.active)))


def staff_news(session: Session, case: Case, event: CaseEvent, people: list[User]) -> None:
    """Tell staff members what happened to a case, with the link to its back-office page."""
    from portal.web import event_label, state_label

    for user in people:
        with force_locale(user.locale):
            subject = _(
                "Case %(number)s: %(what)s", number=case.number, what=event_label(event.kind)
            )
            lines = [
                subject,
                _("State: %(state)s", state=state_label(case.state)),
                *(["", event.body, ""] if event.body else []),
                _("Open it: %(url)s", url=public_url_for("admin.case_page", number=case.number)),
            ]
        _queue(session, user.email, subject, "\n".join(lines), f"staff.{event.kind}", case)


def comment_received(session: Session, case: Case, event: CaseEvent) -> None:
    """Tell the handlers of the case (its dispatchers while it has no department) that a
    resident commented through another system."""
    staff_news(session, case, event, handlers(session, case))


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


def private_link(session: Session, case: Case, email: str, locale: str) -> None:
    """Mail a case's private link to an address the reporter typed or gave with the case."""
    with force_locale(locale):
        subject = _("Your private link to case %(number)s", number=case.number)
        body = "\n".join(
            [
                _(
                    "Someone, probably you, asked for the private link to case %(number)s "
                    "(%(category)s).",
                    number=case.number,
                    category=case.category.name,
                ),
                "",
                _(
                    "Your private page (keep it to yourself: with it you answer, rate and "
                    "reopen): %(url)s",
                    url=case_links.private_url(case),
                ),
                "",
                _("If you did not ask for this, ignore this message."),
            ]
        )
    _queue(session, email, subject, body, "resident.private_link", case)
