"""A facility's public page: its type, place, state and the public cases about it."""

from __future__ import annotations

from flask import abort, render_template
from sqlalchemy import select

from portal.extensions import db
from portal.models import Case
from portal.public import bp
from portal.services import facility_register

CASES_SHOWN = 50


@bp.route("/facilities/<code>")
def facility_page(code: str) -> str:
    """Show a facility as the public sees it: no owner's internal data, no reporter."""
    facility = facility_register.by_code(db.session, code)
    if facility is None:
        abort(404)
    found = db.session.scalars(
        select(Case)
        .where(Case.facility_id == facility.id, Case.is_public)
        .order_by(Case.created_at.desc(), Case.id.desc())
        .limit(CASES_SHOWN)
    ).all()
    return render_template("public/facility.html", facility=facility, cases=found)
