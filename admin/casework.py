"""One case in the back office: everything about it, and the actions on it."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.wrappers import Response

from admin import bp, dispatcher_required
from admin.forms import CaseActionForm, OfflineCaseForm
from admin.queue import department_choices
from portal.extensions import db
from portal.models import Case, Category, Department, utcnow
from portal.public.report import category_groups, checked_report, read_photos
from portal.services import audit, cases, intake, photos, privacy, replies, routing, sla, workflow
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


@bp.route("/cases/<number>")
def case_page(number: str) -> str:
    """Show everything about a case and the actions this user may take."""
    case = staff_case_or_404(number)
    form = CaseActionForm(
        version=case.version_id,
        priority=case.priority,
        department=(case.department or case.suggested_department or Department(code="")).code,
    )
    form.department.choices = department_choices()
    form.category.choices = category_choices()
    form.category.data = case.category.code
    now = utcnow()
    return render_template(
        "admin/case.html",
        case=case,
        form=form,
        now=now,
        actions=workflow.allowed(case, current_user),
        similar=workflow.similar(db.session, case),
        suggestion=case.suggested_department or routing.suggest(db.session, case),
        templates=reply_templates(case),
        show_contact=privacy.may_see_contacts(current_user, case),
        respond_status=sla.clock_status(case.respond_due_at, case.responded_at, now),
        resolve_status=sla.clock_status(case.resolve_due_at, case.resolved_at, now),
        answers=[
            (q, case.attributes[q.code])
            for q in case.category.attributes
            if q.code in (case.attributes or {})
        ],
        kept_as_text=intake.answers_kept_as_text(case.category, case.attributes or {}),
    )


def _run(action: str, case: Case, form: CaseActionForm) -> None:
    """Call the workflow function of an action with what its form holds."""
    s, user, now, version = db.session, current_user, utcnow(), form.version.data
    body = form.body.data or ""
    if action == "resolve":
        processed = read_photos(form)
        if processed is None:
            raise workflow.WorkflowError("photos")
        store = photos.PhotoStore(current_app.config["UPLOAD_DIR"])
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
    elif action == "start":
        workflow.start(s, case, user, now, version)
    elif action == "reject":
        workflow.reject(s, case, user, body, now, version, ground=form.ground.data or "invalid")
    elif action in ("reply", "note", "ask_info", "resume", "close", "rework"):
        getattr(workflow, action)(s, case, user, body, now, version)
    else:
        abort(404)


@bp.route("/cases/<number>/<action>", methods=["POST"])
def act(number: str, action: str) -> Response:
    """Take one action on a case; a refused one changes nothing and says why."""
    if action not in workflow.FROM_STATES:
        abort(404)
    case = staff_case_or_404(number)
    form = CaseActionForm()
    form.department.choices = department_choices()
    form.category.choices = category_choices()
    if not form.validate():
        db.session.rollback()
        errors = "; ".join(e for errs in form.errors.values() for e in errs)
        flash(errors or _("This action is not possible."), "error")
        return redirect(url_for(".case_page", number=number), code=303)
    try:
        _run(action, case, form)
        db.session.commit()
    except workflow.WorkflowError as refused:
        db.session.rollback()
        flash(error_message(refused.code), "error")
        for reason in form.photos.errors if refused.code == "photos" else []:
            flash(reason, "error")
    except StaleDataError:
        db.session.rollback()
        flash(error_message("stale"), "error")
    else:
        flash(_("Done."), "success")
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
        store = photos.PhotoStore(current_app.config["UPLOAD_DIR"])
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
