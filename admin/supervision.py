"""Dispatchers and admins: supervisor applications, the monthly draw, inspection reports."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from admin import admin_required, bp, dispatcher_required, on_site
from admin.forms import DecisionForm, EvidenceReviewForm, SpotCheckForm
from portal.extensions import db
from portal.models import (
    CHECKLIST,
    Assignment,
    Case,
    Inspection,
    InspectionPhoto,
    SpotCheckRound,
    SupervisorApplication,
    utcnow,
)
from portal.services import geo, inspections, spotchecks, supervisors


@bp.route("/applications")
@admin_required
def applications() -> str:
    """List supervisor applications, pending first."""
    listed = db.session.scalars(
        select(SupervisorApplication).order_by(
            SupervisorApplication.status != "pending", SupervisorApplication.created_at.desc()
        )
    ).all()
    return render_template("admin/applications.html", applications=listed, form=DecisionForm())


@bp.route("/applications/<int:application_id>/<decision>", methods=["POST"])
@admin_required
def decide(application_id: int, decision: str) -> Response:
    """Approve an application (creating the account) or decline it with a reason."""
    application = db.session.get(SupervisorApplication, application_id) or abort(404)
    form = DecisionForm()
    if decision not in ("approve", "decline") or not form.validate():
        abort(400)
    try:
        if decision == "approve":
            supervisors.approve(db.session, current_user, application, utcnow())
        else:
            supervisors.decline(
                db.session, current_user, application, form.reason.data or "", utcnow()
            )
    except supervisors.ApplicationError as error:
        db.session.rollback()
        flash(
            _("Give a reason.")
            if error.args[0] == "reason"
            else _("This application was already decided."),
            "error",
        )
    else:
        db.session.commit()
        flash(_("Done."), "success")
    return redirect(url_for(".applications"), code=303)


@bp.route("/spotchecks", methods=["GET", "POST"])
@dispatcher_required
def spot_checks() -> Response | tuple[str, int]:
    """Run the month's random assignment and show each month's coverage."""
    form = SpotCheckForm()
    if request.method == "GET":
        form.month.data = utcnow().strftime("%Y-%m")
    if form.validate_on_submit():
        seed = form.seed.data if form.seed.data is not None else int(utcnow().timestamp())
        try:
            round_ = spotchecks.assign(
                db.session,
                form.month.data,
                form.per_supervisor.data,
                seed,
                current_user,
                utcnow(),
                force=form.force.data,
            )
        except spotchecks.SpotCheckError as error:
            db.session.rollback()
            form.month.errors.append(
                {
                    "exists": _("This month is assigned already; tick “run again” to redo it."),
                    "started": _("Reports were already filed for this month's assignments."),
                    "nobody": _("There are no active supervisors or no active sites."),
                }.get(error.args[0], _("Check the month and the number of sites."))
            )
        else:
            db.session.commit()
            flash(
                _(
                    "%(n)d assignments made for %(month)s (seed %(seed)d).",
                    n=len(round_.assignments),
                    month=round_.month,
                    seed=round_.seed,
                ),
                "success",
            )
            return redirect(url_for(".spot_checks"), code=303)
    rounds = db.session.scalars(
        select(SpotCheckRound).order_by(SpotCheckRound.month.desc()).limit(12)
    ).all()
    coverage = {r.id: _coverage(r) for r in rounds}
    return render_template(
        "admin/spotchecks.html", form=form, rounds=rounds, coverage=coverage
    ), 200 if request.method == "GET" else 422


def _coverage(round_: SpotCheckRound) -> dict:
    """Return a month's coverage overall, per street zone and per contractor."""
    reports = db.session.scalars(
        select(Inspection).where(
            Inspection.assignment_id.in_([a.id for a in round_.assignments]),
            Inspection.status == "submitted",
        )
    ).all()
    findings = (
        db.session.scalars(
            select(Case).where(Case.inspection_id.in_([r.id for r in reports]))
        ).all()
        if reports
        else []
    )
    groups: dict[str, dict[str, dict]] = {"all": {}, "zone": {}, "contractor": {}}

    def bucket(kind: str, key: str) -> dict:
        return groups[kind].setdefault(
            key,
            {
                "sites": set(),
                "checked": set(),
                "reports": 0,
                "passed": 0,
                "findings": 0,
                "answered_in_48h": 0,
            },
        )

    def keys(project) -> list[tuple[str, str]]:
        zone = geo.zone_for_point(db.session, project.lat, project.lng)
        street = zone.parent if zone is not None and zone.level == "grid" else zone
        return [
            ("all", ""),
            ("zone", street.name if street else "—"),
            ("contractor", project.contractor.name if project.contractor else "—"),
        ]

    for assignment in round_.assignments:
        for kind, key in keys(assignment.project):
            bucket(kind, key)["sites"].add(assignment.project_id)
    for report in reports:
        for kind, key in keys(report.project):
            b = bucket(kind, key)
            b["checked"].add(report.project_id)
            b["reports"] += 1
            b["passed"] += report.verdict == "pass" and inspections.counts(report)
    for case in findings:
        for kind, key in keys(case.inspection.project):
            b = bucket(kind, key)
            b["findings"] += 1
            b["answered_in_48h"] += bool(
                case.responded_at and case.responded_at <= case.respond_due_at
            )
    return {
        kind: {
            key: {**b, "sites": len(b["sites"]), "checked": len(b["checked"])}
            for key, b in sorted(found.items())
        }
        for kind, found in groups.items()
    }


@bp.route("/inspections")
@dispatcher_required
def inspection_list() -> str:
    """List submitted reports, those waiting for review first; `?review=pending` shows only them."""
    waiting = (Inspection.flagged | Inspection.off_site) & (
        Inspection.confirmed_at.is_(None) & Inspection.rejected_at.is_(None)
    )
    query = select(Inspection).where(Inspection.status == "submitted")
    only_pending = request.args.get("review") == "pending"
    if only_pending:
        query = query.where(waiting)
    listed = db.session.scalars(
        query.order_by(waiting.desc(), Inspection.submitted_at.desc()).limit(200)
    ).all()
    return render_template("admin/inspections.html", reports=listed, only_pending=only_pending)


@bp.route("/inspections/<int:report_id>", methods=["GET", "POST"])
@dispatcher_required
def inspection_detail(report_id: int) -> Response | tuple[str, int]:
    """Show a report and its evidence; confirm or reject a flagged one, with a reason."""
    report = db.session.get(Inspection, report_id) or abort(404)
    form, status = EvidenceReviewForm(), 200
    if form.validate_on_submit():
        decide = inspections.confirm if form.decision.data == "confirm" else inspections.reject
        made, code = on_site.review(decide, report, form.reason.data, inspections.InspectionError)
        if code is not None:
            flash(_("This report needs no review, or was reviewed already."), "error")
        else:
            flash(
                _("Confirmed: %(n)d findings opened as cases.", n=len(made or []))
                if form.decision.data == "confirm"
                else _("Rejected: the report opens no case and counts nowhere."),
                "success",
            )
        return redirect(url_for(".inspection_detail", report_id=report.id), code=303)
    if request.method == "POST":
        status = 422
    made = db.session.scalars(select(Case).where(Case.inspection_id == report.id)).all()
    count = db.session.scalar(
        select(func.count())
        .select_from(Assignment)
        .where(Assignment.supervisor_id == report.supervisor_id)
    )
    return render_template(
        "admin/inspection.html",
        report=report,
        cases=made,
        form=form,
        checklist=CHECKLIST,
        assignments=count,
    ), status


@bp.route("/inspections/photos/<sha256>.jpg")
@dispatcher_required
def inspection_photo(sha256: str) -> Response:
    """Serve a photo of an inspection report to staff."""
    return on_site.photo(InspectionPhoto, sha256)


@bp.route("/lists", methods=["GET", "POST"])
@admin_required
def lists() -> Response | str:
    """Propose red and black list entries from the records; confirm or dismiss each."""
    from portal.models import ListEntry
    from portal.services import contractors

    form = DecisionForm()
    if form.validate_on_submit():
        made = contractors.propose(db.session, utcnow())
        db.session.commit()
        flash(_("%(n)d entries proposed.", n=len(made)), "success")
        return redirect(url_for(".lists"), code=303)
    entries = db.session.scalars(
        select(ListEntry)
        .order_by(ListEntry.confirmed_at.is_not(None), ListEntry.proposed_at.desc())
        .limit(200)
    ).all()
    return render_template("admin/lists.html", entries=entries, form=form)


@bp.route("/lists/<int:entry_id>/<decision>", methods=["POST"])
@admin_required
def decide_entry(entry_id: int, decision: str) -> Response:
    """Confirm (publish) or dismiss a proposed list entry, or renew a published one."""
    from portal.models import ListEntry
    from portal.services import contractors

    entry = db.session.get(ListEntry, entry_id) or abort(404)
    form = DecisionForm()
    if decision not in ("confirm", "dismiss", "renew") or not form.validate():
        abort(400)
    reason = form.reason.data or ""
    try:
        if decision == "confirm":
            contractors.confirm(db.session, current_user, entry, reason, utcnow())
        elif decision == "renew":
            contractors.renew(db.session, current_user, entry, reason, utcnow())
        else:
            contractors.dismiss(db.session, current_user, entry, utcnow())
    except contractors.ListError as error:
        db.session.rollback()
        flash(
            {
                "reason": _("Give a reason."),
                "state": _("Only a published entry can be renewed."),
            }.get(error.args[0], _("This entry was already decided.")),
            "error",
        )
    else:
        db.session.commit()
        flash(_("Done."), "success")
    return redirect(url_for(".lists"), code=303)
