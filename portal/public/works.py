"""Public pages of the office's works: a project, and the contractors with the red and black
list."""

from __future__ import annotations

from datetime import timedelta

from flask import abort, render_template
from sqlalchemy import select

from portal.extensions import db
from portal.models import Case, Contractor, Project, utcnow
from portal.public import bp
from portal.services import contractors


@bp.route("/projects/<code>")
def project_page(code: str) -> str:
    """Show a project: phase, dates, contractor, and the cases about it."""
    project = db.session.scalar(select(Project).where(Project.code == code)) or abort(404)
    related = db.session.scalars(
        select(Case)
        .where(Case.project_id == project.id, Case.hidden.is_(False))
        .order_by(Case.created_at.desc())
        .limit(50)
    ).all()
    return render_template("public/project.html", project=project, cases=related)


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
