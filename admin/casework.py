"""One case in the back office: everything about it, and the actions on it."""

from __future__ import annotations

from datetime import datetime

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.wrappers import Response

from admin import bp, dispatcher_required
from admin.forms import CaseActionForm, OfflineCaseForm
from admin.queue import department_choices
from portal.extensions import db
from portal.models import Case, CaseEvent, Category, Department, User, utcnow
from portal.public.report import category_groups, checked_report, read_photos
from portal.services import (
    alarms,
    audit,
    bulk,
    cases,
    facilities,
    intake,
    photos,
    privacy,
    replies,
    routing,
    sla,
    workflow,
)
from portal.web import public_url_for


def error_message(code: str) -> str:
    """Return the translated explanation of a refused action."""
    messages = {
        "stale": _("This case changed since you opened it. Reload the page and try again."),
        "forbidden": _("You may not act on this case."),
        "state": _("This action is not possible in the case's current state."),
        "reason": _("Give a reason."),
        "body": _("Write the text first."),
        "priority": _("Choose a priority."),
        "department": _("Choose an active department."),
        "target": _("Give the number of another open case."),
        "photos": _("One of the photos was refused."),
        "category": _("Choose an active category."),
        "verification": _(
            "A supervisor's finding is closed once the supervisor has checked the fix on site."
        ),
        "assignee": _("Choose an active handler of the case's department."),
        "extension": _("Give the extra time in hours, from 1 to 720."),
        "missing": _("No such case."),
    }
    return messages.get(code, _("This action is not possible."))


def category_choices() -> list[tuple[str, str]]:
    """Return the active categories as form choices."""
    found = db.session.scalars(select(Category).where(Category.active).order_by(Category.code))
    return [(c.code, f"{c.code} {c.name}") for c in found]


def staff_case_or_404(number: str) -> Case:
    """Return a case the signed-in staff member may open, or answer 404/403."""
    case = db.session.scalar(select(Case).where(Case.number == number))
    if case is None:
        abort(404)
    if not workflow.can_see(case, current_user):
        abort(403)
    return case


def reply_templates(case: Case) -> list[tuple[str, str]]:
    """Return ready-made public replies as (label, text): the office's for this category
    first, then three general ones that always apply."""
    name = case.category.name
    general = [
        _(
            "We have received your report about %(category)s and sent staff to check it.",
            category=name,
        ),
        _(
            "The repair of the %(category)s is scheduled; we will report when it is done.",
            category=name,
        ),
        _("The %(category)s has been repaired. Thank you for reporting it.", category=name),
    ]
    own = [(t.title, t.body) for t in replies.templates_for(db.session, case.category)]
    return own + [(text, text) for text in general]


@bp.app_template_global("refusal")
def refusal(code: str) -> str:
    """Return why an action was refused, for the templates (the bulk result)."""
    return error_message(code)


def assignee_choices(case: Case) -> list[tuple[str, str]]:
    """Return the active handlers of the case's department as form choices, after nobody."""
    found = db.session.scalars(
        select(User)
        .where(User.department_id == case.department_id, User.role == "handler", User.active)
        .order_by(User.name)
    )
    return [("", _("— Nobody in particular —"))] + [(str(u.id), u.name) for u in found]


def case_form(case: Case, form: CaseActionForm | None = None) -> CaseActionForm:
    """Return the actions' form with its choices; a new one defaults to the case's values,
    its department to the one the routing hint suggests."""
    suggestion = case.suggested_department or routing.suggest(db.session, case)
    if form is None:
        department = case.department or suggestion
        form = CaseActionForm(
            version=case.version_id,
            priority=case.priority,
            department=department.code if department else "",
            assignee=str(case.assignee_id or ""),
            category=case.category.code,
        )
    form.department.choices = department_choices()
    form.category.choices = category_choices()
    form.assignee.choices = assignee_choices(case)
    return form


def render_case(
    case: Case, form: CaseActionForm, kept: str = "", changes: list | None = None, **refused
) -> str:
    """Render the case page; after a refused action, with the text typed kept in its form
    and why beside it (`refused_because`), or the changes made meanwhile (a stale form)."""
    now = utcnow()
    return render_template(
        "admin/case.html",
        **refused,
        **facility_context(case, now),
        case=case,
        form=form,
        now=now,
        kept=kept,
        changes=changes,
        actions=workflow.allowed(case, current_user),
        similar=workflow.similar(db.session, case),
        suggestion=case.suggested_department or routing.suggest(db.session, case),
        templates=reply_templates(case),
        show_contact=privacy.may_see_contacts(current_user, case),
        respond_status=sla.clock_status(case.respond_due_at, case.responded_at, now),
        resolve_status=sla.clock_status(case.resolve_due_at, case.resolved_at, now),
        countdown=sla.countdown(db.session, case, now),
        answers=[
            (q, case.attributes[q.code])
            for q in case.category.attributes
            if q.code in (case.attributes or {})
        ],
        kept_as_text=intake.answers_kept_as_text(case.category, case.attributes or {}),
        sensor_alarm=alarms.of_case(db.session, case.id) if case.source == "sensor" else None,
    )


def facility_context(case: Case, now: datetime) -> dict:
    """Return what the case page shows of the case's facility: its other cases, its state
    changes, and whether it keeps failing (the repeat flag)."""
    if case.facility is None:
        return {"facility": None}
    others, changes = facilities.history(db.session, case.facility)
    count, days = facilities.repeat_rule()
    recent = facilities.case_counts(db.session, [case.facility.id], now).get(case.facility.id, 0)
    numbers = dict(
        db.session.execute(
            select(Case.id, Case.number).where(Case.id.in_({c.case_id for c in changes}))
        ).all()
    )
    return {
        "facility": case.facility,
        "facility_case_numbers": numbers,
        "facility_reason_label": facilities.reason_label,
        "facility_cases": [c for c in others if c.id != case.id],
        "facility_changes": changes,
        "facility_recent": recent,
        "facility_repeat": recent >= count,
        "repeat_days": days,
        "facility_state_label": facilities.state_label,
    }


@bp.route("/cases/<number>")
def case_page(number: str) -> str:
    """Show everything about a case and the actions this user may take."""
    case = staff_case_or_404(number)
    return render_case(case, case_form(case))


def changes_since(case: Case, seen: str | None) -> list[CaseEvent]:
    """Return the staff changes on the timeline after the moment the page was opened (the
    latest one if that moment is unknown)."""
    try:
        since = datetime.fromisoformat(seen or "")
    except ValueError:
        since = None
    if since is None or since.tzinfo is None:
        latest = bulk.latest_change(case)
        return [latest] if latest else []
    return [e for e in case.events if e.created_at > since and e.actor is not None]


def _run(action: str, case: Case, form: CaseActionForm) -> None:
    """Call the workflow function of an action with what its form holds."""
    s, user, now, version = db.session, current_user, utcnow(), form.version.data
    body = form.body.data or ""
    if action == "resolve":
        processed = read_photos(form)
        if processed is None:
            raise workflow.WorkflowError("photos")
        store = photos.store_for_app()
        workflow.resolve(s, case, user, body, processed, store, now, version)
    elif action in ("accept", "set_priority"):
        getattr(workflow, action)(s, case, user, form.priority.data, now, version)
    elif action == "route":
        department = s.scalar(select(Department).where(Department.code == form.department.data))
        if department is None:
            raise workflow.WorkflowError("department")
        workflow.route(s, case, user, department, now, version)
    elif action == "set_category":
        category = s.scalar(select(Category).where(Category.code == form.category.data))
        if category is None:
            raise workflow.WorkflowError("category")
        workflow.set_category(s, case, user, category, now, version)
    elif action == "merge":
        target = s.scalar(select(Case).where(Case.number == form.target.data))
        if target is None:
            raise workflow.WorkflowError("target")
        workflow.merge(s, case, user, target, now, version)
    elif action == "assign":
        chosen = form.assignee.data or ""
        assignee = s.get(User, int(chosen)) if chosen.isdigit() and len(chosen) < 10 else None
        if chosen and assignee is None:
            raise workflow.WorkflowError("assignee")
        workflow.assign(s, case, user, assignee, now, version)
    elif action == "send_back":
        workflow.send_back(s, case, user, body, now, version)
    elif action == "request_extension":
        if not form.hours.data:
            raise workflow.WorkflowError("extension")
        workflow.request_extension(s, case, user, body, form.hours.data * 60, now, version)
    elif action in workflow.EXTENSION_DECISIONS:
        approve = action == "approve_extension"
        workflow.decide_extension(s, case, user, approve, body, now, version)
    elif action == "start":
        workflow.start(s, case, user, now, version)
    elif action == "reject":
        workflow.reject(s, case, user, body, now, version, ground=form.ground.data or "invalid")
    elif action in ("reply", "note", "ask_info", "resume", "close", "rework"):
        getattr(workflow, action)(s, case, user, body, now, version)
    else:
        abort(404)


def stale_page(case: Case, form: CaseActionForm, action: str) -> tuple[str, int]:
    """Show the case again after a refused stale action: what was typed stays in its form,
    the other person's change beside it, and the form now carries the current version."""
    db.session.refresh(case)
    flash(error_message("stale"), "error")
    changes = changes_since(case, form.seen.data)
    form.version.data = case.version_id
    return render_case(case, form, kept=action, changes=changes), 409


def refused_page(
    case: Case, form: CaseActionForm, action: str, reasons: list[str]
) -> tuple[str, int]:
    """Show the case again after a refused action: what was typed stays in its form, and
    why it was refused is said inside that form, where the official is looking."""
    return render_case(case, form, kept=action, refused_because=reasons), 422


@bp.route("/cases/<number>/<action>", methods=["POST"])
def act(number: str, action: str) -> Response | tuple[str, int]:
    """Take one action on a case; a refused one changes nothing and says why."""
    if action not in workflow.FROM_STATES:
        abort(404)
    case = staff_case_or_404(number)
    form = case_form(case, CaseActionForm())
    if not form.validate():
        db.session.rollback()
        errors = [e for errs in form.errors.values() for e in errs]
        return refused_page(case, form, action, errors or [_("This action is not possible.")])
    try:
        _run(action, case, form)
        db.session.commit()
    except workflow.StaleCase:
        db.session.rollback()
        return stale_page(case, form, action)
    except workflow.WorkflowError as refused:
        db.session.rollback()
        reasons = form.photos.errors if refused.code == "photos" else []
        return refused_page(case, form, action, [error_message(refused.code), *reasons])
    except StaleDataError:
        db.session.rollback()
        return stale_page(case, form, action)
    else:
        flash(_("Done."), "success")
        if not workflow.can_see(case, current_user):  # sent back: no longer this user's
            return redirect(url_for(".index"), code=303)
    return redirect(url_for(".case_page", number=number), code=303)


@bp.route("/cases/new", methods=["GET", "POST"])
@dispatcher_required
def new_case() -> Response | tuple[str, int]:
    """Enter a complaint received by phone, letter or visit, for the resident."""
    form = OfflineCaseForm()
    groups = category_groups()
    form.category.choices = [(c.code, c.name) for g in groups for c in g.categories if c.active]
    checked = None
    if request.method == "POST":
        checked = checked_report(form, hide_name=True, source=form.channel.data)
    if checked is not None:
        report, processed = checked
        store = photos.store_for_app()
        case, token = cases.submit(db.session, report, processed, store, utcnow())
        audit.record(
            db.session,
            current_user,
            "case.enter",
            "case",
            case.number,
            after={"channel": form.channel.data},
        )
        db.session.commit()
        link = public_url_for("public.track", token=token)
        flash(
            _(
                "Case %(number)s entered. Give the resident the case number and this private "
                "link: %(link)s",
                number=case.number,
                link=link,
            ),
            "success",
        )
        return redirect(url_for(".case_page", number=case.number), code=303)
    return render_template("admin/new_case.html", form=form, groups=groups), (
        200 if request.method == "GET" else 422
    )
