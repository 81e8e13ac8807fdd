"""The back office's first page: the caseload at a glance."""

from __future__ import annotations

from flask import render_template
from sqlalchemy import func, select

from admin import bp
from portal.extensions import db
from portal.models import STATES, Case


@bp.route("/")
def index() -> str:
    """Show how many cases are in each state."""
    counts = dict(db.session.execute(select(Case.state, func.count()).group_by(Case.state)).all())
    return render_template("admin/index.html", counts=counts, states=STATES)
