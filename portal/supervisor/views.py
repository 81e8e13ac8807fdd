"""Supervisors: apply, see the month's sites, file reports, verify fixes."""

from __future__ import annotations

import secrets
from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from portal.extensions import db, limiter
from portal.models import (
    CHECKLIST,
    Assignment,
    Case,
    Inspection,
    Project,
    SiteCheck,
    SpotCheckRound,
    User,
    Zone,
    utcnow,
)
from portal.services import (
    evidence,
    followups,
    inspections,
    photos,
    site_checks,
    supervisors,
    workflow,
)
from portal.supervisor import bp, on_site
from portal.supervisor.forms import ApplicationForm, InspectionForm, PositionForm, VerifyForm
from portal.web import row_id


def refusal(code: str) -> str:
    """Return the translated reason a report was not accepted as it is."""
    return {
        "incomplete": _("Answer every item of the checklist before submitting."),
        "photo": _("Add a photo to every failed item."),
        "pass_photo": _("Add at least one photo of the site: a pass needs one too."),
        "position": _("Your position is missing or not valid: use “my position” or type it."),
        "item": _("The checklist answers were not understood."),
        "site": _("This site is not an active construction site."),
        "key": _("This report belongs to someone else."),
        "submitted": _("This report was already submitted."),
    }.get(code, _("The report could not be saved."))


@bp.route("/apply", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_SUPERVISOR_APPLY"], methods=["POST"])
def apply() -> Response | tuple[str, int]:
    """Apply to become a citizen supervisor."""
    form = ApplicationForm()
    streets = db.session.scalars(select(Zone).where(Zone.level == "street").order_by(Zone.code))
    form.zone.choices = [("", "—"), *[(z.code, z.name) for z in streets]]
    if form.validate_on_submit():
        zone = db.session.scalar(select(Zone).where(Zone.code == form.zone.data))
        try:
            supervisors.apply(
                db.session,
                form.name.data,
                form.phone.data,
                form.email.data,
                zone,
                form.motivation.data or "",
                utcnow(),
                agreed_at=utcnow(),  # the form requires the agreement
            )
        except supervisors.ApplicationError:
            form.email.errors.append(_("An application or account with this e-mail exists."))
        else:
            db.session.commit()
            flash(_("Thank you. The office will answer your application by e-mail."), "success")
            return redirect(url_for("public.index"), code=303)
    return render_template("supervisor/apply.html", form=form), (
        200 if request.method == "GET" else 422
    )


@bp.route("/")
def index() -> str:
    """Show this month's assigned sites (and next month's once drawn), the other active
    sites, reports, findings, points."""
    today = utcnow().astimezone(ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])).date()
    month = today.strftime("%Y-%m")
    following = (today.replace(day=1) + timedelta(days=32)).strftime("%Y-%m")

    def assigned_in(which: str) -> list[Assignment]:
        return db.session.scalars(
            select(Assignment)
            .join(Assignment.round)
            .where(Assignment.supervisor_id == current_user.id, SpotCheckRound.month == which)
            .order_by(Assignment.due_on, Assignment.id)
        ).all()

    assigned = assigned_in(month)
    done = set(
        db.session.scalars(
            select(Inspection.assignment_id).where(
                Inspection.supervisor_id == current_user.id, Inspection.status == "submitted"
            )
        )
    )
    sites = db.session.scalars(
        select(Project).where(Project.active_site).order_by(Project.code)
    ).all()
    reports = db.session.scalars(
        select(Inspection)
        .where(Inspection.supervisor_id == current_user.id)
        .order_by(Inspection.started_at.desc())
        .limit(50)
    ).all()
    findings = db.session.scalars(
        select(Case)
        .join(Case.inspection)
        .where(Inspection.supervisor_id == current_user.id)
        .order_by(Case.created_at.desc())
        .limit(50)
    ).all()
    rank = 1 + db.session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.role == "supervisor", User.points > current_user.points)
    )
    return render_template(
        "supervisor/index.html",
        follow_ups=followups.of_supervisor(db.session, current_user, month),
        assigned=assigned,
        done=done,
        sites=sites,
        reports=reports,
        findings=findings,
        month=month,
        next_month=following,
        next_assigned=assigned_in(following),
        rank=rank,
    )


def _answers() -> dict[str, dict]:
    return {
        item: {
            "result": request.form.get(f"item-{item}", ""),
            "note": request.form.get(f"note-{item}", "").strip()[:500],
        }
        for item in CHECKLIST
        if f"item-{item}" in request.form
    }


def _position(form: PositionForm) -> evidence.Position | None:
    try:
        return form.position()
    except evidence.InvalidPosition as error:
        raise inspections.InspectionError("position") from error


@bp.route("/inspect/<code>", methods=["GET", "POST"])
def inspect(code: str) -> Response | tuple[str, int]:
    """Fill in an inspection report of a site; save it as a draft or submit it."""
    project = db.session.scalar(select(Project).where(Project.code == code))
    if project is None or not project.active_site:
        abort(404)
    form = InspectionForm()
    report, status = None, 200
    if request.method == "GET":  # reopening the form resumes the open draft of this site
        wanted = request.args.get("report", type=row_id)
        report = inspections.open_draft(db.session, current_user, project, wanted)
        form.client_key.data = report.client_key if report else secrets.token_hex(16)
        if report is not None:
            form.show(report)
    elif not form.validate_on_submit():
        status = 422
    else:
        now = utcnow()
        try:
            uploaded = _read_photos()  # before any change: a refused photo changes nothing
            report = inspections.draft(db.session, current_user, project, form.client_key.data, now)
            if report.status == "submitted":  # a second submit of the same form
                return redirect(url_for(".report", report_id=report.id), code=303)
            inspections.save(report, _answers(), _position(form), now=now)
            _store_photos(report, uploaded, now)
            db.session.commit()  # the draft is kept even if submitting is refused below
            if request.form.get("action") == "submit":
                made = inspections.submit(db.session, report, now)
                db.session.commit()
                flash(_submitted_message(report, made), "info" if report.flagged else "success")
                return redirect(url_for(".report", report_id=report.id), code=303)
            if request.headers.get("X-Requested-With") == "fetch":
                return "", 204  # the page's background save: no message to show later
            flash(_("Draft saved."), "info")
        except (inspections.InspectionError, PhotosRefused) as error:
            db.session.rollback()
            refused = (
                error.args[0] if isinstance(error, PhotosRefused) else [refusal(error.args[0])]
            )
            for message in refused:
                flash(message, "error")
            status = 422
            report = db.session.scalar(
                select(Inspection).where(Inspection.client_key == form.client_key.data)
            )
    answers = report.items if report and report.items else _answers()
    # A refused submit points at the items still without a result: the list is long on a phone.
    unanswered = (
        {item for item in CHECKLIST if not answers.get(item, {}).get("result")}
        if status == 422 and request.form.get("action") == "submit"
        else set()
    )
    return render_template(
        "supervisor/inspect.html",
        form=form,
        project=project,
        report=report,
        checklist=CHECKLIST,
        answers=answers,
        unanswered=unanswered,
    ), status


def _submitted_message(report: Inspection, made: list[Case]) -> str:
    if report.flagged:
        return _(
            "Report submitted, pending staff review (%(why)s). Its findings and points "
            "count once a staff member confirms it.",
            why=on_site.why_flagged(report),
        )
    if not made:  # an all-pass report: "0 findings sent" read as if something was lost
        return _("Report submitted: no problems found.")
    return ngettext(
        "Report submitted: %(num)d finding sent to the office.",
        "Report submitted: %(num)d findings sent to the office.",
        len(made),
    )


class PhotosRefused(ValueError):
    """Raised with the list of refused photos, each with its file name and the reason."""


def _read_photos() -> list[tuple[str, photos.ProcessedPhoto]]:
    """Process the photos of every checklist item; raise PhotosRefused if any is refused."""
    read, refused = [], []
    for item in CHECKLIST:
        processed, problems = on_site.read_photos(f"photo-{item}")
        read.extend((item, photo) for photo in processed)
        refused.extend(problems)
    if refused:
        raise PhotosRefused(refused)
    return read


def _store_photos(
    report: Inspection, uploaded: list[tuple[str, photos.ProcessedPhoto]], now
) -> None:
    store = photos.store_for_app()
    for item, processed in uploaded:
        inspections.add_photo(db.session, report, item, processed, store, now)


@bp.route("/inspections/<int:report_id>")
def report(report_id: int) -> str:
    """Show one of the supervisor's own reports."""
    found = db.session.get(Inspection, report_id)
    if found is None or found.supervisor_id != current_user.id:
        abort(404)
    made = db.session.scalars(select(Case).where(Case.inspection_id == found.id)).all()
    return render_template("supervisor/report.html", report=found, cases=made, checklist=CHECKLIST)


def check_refusal(code: str) -> str:
    """Return the translated reason a check on site was not recorded."""
    return on_site.refusal(
        code,
        _("This case is not waiting for your check."),
        pending=_("Your earlier check of this case is waiting for staff review."),
        stale=_("The case changed meanwhile: check what is new, then send again."),
    )


@bp.route("/cases/<number>", methods=["GET", "POST"])
def verify(number: str) -> Response | tuple[str, int]:
    """Verify on site the fix of one of the supervisor's findings (核查): close or send back."""
    case = db.session.scalar(select(Case).where(Case.number == number))
    if case is None or not workflow.can_see(case, current_user):
        abort(404)
    form, status = VerifyForm(version=case.version_id), 200
    if request.method == "POST":
        code = _check(case, form)
        if code is None:
            return redirect(url_for(".verify", number=number), code=303)
        if code:
            flash(check_refusal(code), "error")
        status = 422
    checks = db.session.scalars(
        select(SiteCheck)
        .where(SiteCheck.case_id == case.id, SiteCheck.supervisor_id == current_user.id)
        .order_by(SiteCheck.created_at.desc())
    ).all()
    return render_template(
        "supervisor/case.html",
        case=case,
        form=form,
        actions=workflow.allowed(case, current_user),
        pending=site_checks.pending(db.session, case),
        checks=checks,
    ), status


def _check(case: Case, form: VerifyForm) -> str | None:
    """Record the check sent; return None when done, else the refusal's code ("" if shown)."""
    if not form.validate():
        return ""
    position = on_site.position(form)
    action = "close" if request.form.get("action") == "close" else "rework"
    # What the supervisor can fix by typing is refused before the photos are read: a browser
    # cannot give the picked files back, so they are lost only when they are the problem.
    if position is None:
        return "position"
    try:
        version = int(form.version.data)
    except ValueError:
        return "stale"
    if version != case.version_id:
        return "stale"
    if site_checks.pending(db.session, case) is not None:
        return "pending"
    if action not in workflow.allowed(case, current_user):
        return "state"
    processed = on_site.photos_or_flash()
    if processed is None:
        return ""
    store = photos.store_for_app()
    try:
        check = site_checks.record(
            db.session,
            case,
            current_user,
            action,
            form.body.data,
            position,
            processed,
            store,
            utcnow(),
            version,
        )
        db.session.commit()
    except workflow.StaleCase:
        db.session.rollback()
        return "stale"
    except (site_checks.SiteCheckError, workflow.WorkflowError) as error:
        db.session.rollback()
        return error.args[0]
    if check.flagged:
        flash(
            _(
                "Thank you. Your check is pending staff review (%(why)s): the case changes, "
                "and your points count, once a staff member confirms it.",
                why=on_site.why_flagged(check),
            ),
            "info",
        )
    else:
        flash(_("Thank you for checking on site."), "success")
    return None
