"""Admins: the citizen supervisors, suspended and reinstated with a reason."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from admin import admin_required, bp
from admin.forms import DecisionForm
from portal.extensions import db
from portal.models import User, utcnow
from portal.services import supervisors


@bp.route("/supervisors")
@admin_required
def supervisor_list() -> str:
    """List the supervisors, suspended ones first, with their points."""
    listed = db.session.scalars(
        select(User)
        .where(User.role == "supervisor")
        .order_by(User.suspended_at.is_(None), User.name)
    ).all()
    return render_template("admin/supervisors.html", supervisors=listed, form=DecisionForm())


@bp.route("/supervisors/<int:user_id>/<decision>", methods=["POST"])
@admin_required
def suspend_supervisor(user_id: int, decision: str) -> Response:
    """Suspend a supervisor or reinstate them, with a reason."""
    supervisor = db.session.get(User, user_id) or abort(404)
    form = DecisionForm()
    if decision not in ("suspend", "reinstate") or not form.validate():
        abort(400)
    action = supervisors.suspend if decision == "suspend" else supervisors.reinstate
    try:
        action(db.session, current_user, supervisor, form.reason.data or "", utcnow())
    except supervisors.ApplicationError as error:
        db.session.rollback()
        flash(
            _("Give a reason.")
            if error.args[0] == "reason"
            else _("This supervisor is not in a state for that."),
            "error",
        )
    else:
        db.session.commit()
        flash(
            _("%(name)s is suspended.", name=supervisor.name)
            if decision == "suspend"
            else _("%(name)s is reinstated.", name=supervisor.name),
            "success",
        )
    return redirect(url_for(".supervisor_list"), code=303)
