"""Admins register projects (construction sites) and contractors."""

from __future__ import annotations

import json

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from admin import admin_required, bp
from admin.forms import ContractorForm, ProjectForm
from admin.queue import department_choices
from portal.extensions import db
from portal.models import Contractor, Department, Project, utcnow
from portal.services import works


def works_error(code: str) -> str:
    """Return the translated explanation of a refused contractor or project."""
    return {
        "credit_code": _(
            "The unified social credit code is not valid (18 characters with a "
            "correct check character)."
        ),
        "duplicate": _("This code is already used."),
        "geometry": _(
            "Give the site as a latitude and longitude, or as a GeoJSON LineString in WGS-84."
        ),
    }.get(code, _("Not saved."))


@bp.route("/contractors", methods=["GET", "POST"])
@bp.route("/contractors/<int:contractor_id>", methods=["GET", "POST"])
@admin_required
def contractors(contractor_id: int | None = None) -> Response | tuple[str, int]:
    """List contractors; create or edit one."""
    contractor = db.session.get(Contractor, contractor_id) if contractor_id else None
    if contractor_id and contractor is None:
        abort(404)
    form = ContractorForm(obj=contractor)
    if form.validate_on_submit():
        try:
            works.save_contractor(
                db.session,
                current_user,
                form.name.data,
                form.credit_code.data,
                form.contact_name.data or "",
                form.contact_phone.data or "",
                contractor,
            )
        except works.WorksError as error:
            db.session.rollback()
            form.credit_code.errors.append(works_error(error.args[0]))
        else:
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for(".contractors"), code=303)
    listed = db.session.scalars(select(Contractor).order_by(Contractor.name)).all()
    return render_template(
        "admin/contractors.html", form=form, contractors=listed, editing=contractor
    ), 200 if request.method == "GET" else 422


@bp.route("/projects")
@admin_required
def projects() -> str:
    """List the projects."""
    listed = db.session.scalars(select(Project).order_by(Project.code)).all()
    return render_template("admin/projects.html", projects=listed)


@bp.route("/projects/new", methods=["GET", "POST"])
@bp.route("/projects/<code>/edit", methods=["GET", "POST"])
@admin_required
def project_form(code: str | None = None) -> Response | tuple[str, int]:
    """Register a project or edit it."""
    project = db.session.scalar(select(Project).where(Project.code == code)) if code else None
    if code and project is None:
        abort(404)
    # A post stands on its own: a field it leaves out must not fall back to the project's
    # attribute of the same name (a shape or a contractor object, not form text).
    form = ProjectForm(obj=project if request.method == "GET" else None)
    form.contractor.choices = [
        ("", "—"),
        *[
            (str(c.id), c.name)
            for c in db.session.scalars(select(Contractor).order_by(Contractor.name))
        ],
    ]
    form.department.choices = [("", "—"), *department_choices()]
    if request.method == "GET" and project is not None:
        form.contractor.data = str(project.contractor_id or "")
        form.department.data = project.department.code if project.department else ""
        if project.geometry["type"] == "Point":
            form.lng.data, form.lat.data = project.geometry["coordinates"]
            form.geometry.data = ""
        else:
            form.geometry.data = json.dumps(project.geometry)
    if form.validate_on_submit():
        try:
            fields = _fields(form)
            works.save_project(db.session, current_user, project or Project(), fields, utcnow())
        except works.WorksError as error:
            db.session.rollback()
            target = form.code if error.args[0] == "duplicate" else form.geometry
            target.errors.append(works_error(error.args[0]))
        else:
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for(".projects"), code=303)
    return render_template("admin/project_form.html", form=form, project=project), (
        200 if request.method == "GET" else 422
    )


def _fields(form: ProjectForm) -> dict:
    if form.geometry.data:
        try:
            geometry = json.loads(form.geometry.data)
        except ValueError as error:
            raise works.WorksError("geometry") from error
    else:
        try:
            geometry = {
                "type": "Point",
                "coordinates": [float(form.lng.data), float(form.lat.data)],
            }
        except (TypeError, ValueError) as error:
            raise works.WorksError("geometry") from error
    department = (
        db.session.scalar(select(Department).where(Department.code == form.department.data))
        if form.department.data
        else None
    )
    return {
        "code": form.code.data,
        "name": form.name.data,
        "geometry": geometry,
        "contractor_id": int(form.contractor.data) if form.contractor.data else None,
        "supervising_firm": form.supervising_firm.data or "",
        "department": department,
        "phase": form.phase.data,
        "planned_start": form.planned_start.data,
        "planned_end": form.planned_end.data,
        "actual_start": form.actual_start.data,
        "actual_end": form.actual_end.data,
        "description": form.description.data or "",
        "active_site": bool(form.active_site.data),
        "acceptance_result": form.acceptance_result.data
        if form.acceptance_result.data in ("passed", "failed")
        else "",
        "acceptance_date": form.acceptance_date.data,
    }
