"""Facilities that keep failing (N cases in D days): the dispatcher's list."""

from __future__ import annotations

from flask import render_template

from admin import bp, dispatcher_required
from portal.extensions import db
from portal.models import utcnow
from portal.services import facilities


@bp.route("/facilities/repeats")
@dispatcher_required
def facility_repeats() -> str:
    """List the repeat facilities, most cases first, with links to their cases."""
    now = utcnow()
    count, days = facilities.repeat_rule()
    return render_template(
        "admin/facility_repeats.html",
        repeats=facilities.repeats(db.session, now),
        count=count,
        days=days,
        state_label=facilities.state_label,
    )
