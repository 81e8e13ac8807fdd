"""Public pages of the office's works: a project, and the contractors with the red and black
list."""

from __future__ import annotations

from datetime import timedelta

from flask import abort, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.extensions import db
from portal.models import Contractor, Project, utcnow
from portal.models.works import PHASES
from portal.public import bp
from portal.services import consultations, contractors, notices
from portal.web import page_number, state_label

PAGE_SIZE = 20


@bp.route("/projects")
def project_list() -> str:
    """List the office's works with their phase and notices, filtered by phase, in pages."""
    phase = request.args.get("phase", "")
    query = select(Project).options(joinedload(Project.department)).order_by(Project.code)
    if phase in PHASES:
        query = query.where(Project.phase == phase)
    page = db.paginate(
        query, page=page_number(), per_page=PAGE_SIZE, max_per_page=PAGE_SIZE, error_out=False
    )
    counts = notices.project_notice_counts(db.session, [p.id for p in page.items], utcnow())
    return render_template(
        "public/projects.html",
        page=page,
        phases=PHASES,
        phase=phase if phase in PHASES else "",
        unknown_phase=bool(phase) and phase not in PHASES,
        counts=counts,
    )


@bp.route("/projects/<code>")
def project_page(code: str) -> str:
    """Show a project: phase, dates, contractor, consultations, notices, and cases on a map."""
    project = db.session.scalar(select(Project).where(Project.code == code)) or abort(404)
    now = utcnow()
    related = notices.related_cases(db.session, project, now)
    points = [
        {
            "lat": c.lat,
            "lng": c.lng,
            "number": c.number,
            "label": f"{c.number} · {c.category.name} · {state_label(c.state)}",
            "url": url_for(".case_page", number=c.number),
        }
        for c in related
    ]
    open_, closed = consultations.public(db.session, now, project)
    return render_template(
        "public/project.html",
        project=project,
        consultations=open_ + closed,
        cases=related,
        case_points=points,
        notices=notices.for_project(db.session, project, now),
    )


@bp.route("/contractors")
def contractor_list() -> str:
    """Show the red and black lists and each contractor's public record."""
    now = utcnow()
    since = now - timedelta(days=365)
    listed = db.session.scalars(select(Contractor).order_by(Contractor.name)).all()
    records = {c.id: contractors.record(db.session, c, since, now) for c in listed}
    return render_template(
        "public/contractors.html",
        contractors=listed,
        records=records,
        red=contractors.published(db.session, "red", now.date()),
        black=contractors.published(db.session, "black", now.date()),
    )
