"""Dispatchers and admins: supervisors' checks on site (核查) and the review of flagged ones."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from admin import bp, dispatcher_required, on_site
from admin.forms import EvidenceReviewForm
from portal.extensions import db
from portal.models import SiteCheck, SiteCheckPhoto
from portal.services import evidence, site_checks


@bp.route("/checks")
@dispatcher_required
def site_check_list() -> str:
    """List checks on site, those waiting for review first; `?review=pending` shows only them."""
    waiting = evidence.awaiting_review(SiteCheck)
    query = select(SiteCheck)
    only_pending = request.args.get("review") == "pending"
    if only_pending:
        query = query.where(waiting)
    listed = db.session.scalars(
        query.order_by(waiting.desc(), SiteCheck.created_at.desc()).limit(200)
    ).all()
    return render_template("admin/site_checks.html", checks=listed, only_pending=only_pending)


@bp.route("/checks/<int:check_id>", methods=["GET", "POST"])
@dispatcher_required
def site_check_detail(check_id: int) -> Response | tuple[str, int]:
    """Show a check and its evidence; confirm (apply it to the case) or reject a flagged one."""
    check = db.session.get(SiteCheck, check_id) or abort(404)
    form, status = EvidenceReviewForm(), 200
    if form.validate_on_submit():
        decide = site_checks.confirm if form.decision.data == "confirm" else site_checks.reject
        code = on_site.review(decide, check, form.reason.data, site_checks.SiteCheckError)[1]
        if code is None:
            flash(_("Done."), "success")
        else:
            flash(
                _("The case has moved on since the check: reject the check instead.")
                if code == "case_state"
                else _("This check needs no review, or was reviewed already."),
                "error",
            )
        return redirect(url_for(".site_check_detail", check_id=check.id), code=303)
    if request.method == "POST":
        status = 422
    return render_template("admin/site_check.html", check=check, form=form), status


@bp.route("/checks/photos/<sha256>.jpg")
@dispatcher_required
def site_check_photo(sha256: str) -> Response:
    """Serve a photo of a check on site to staff (re-encoded: no EXIF)."""
    return on_site.photo(SiteCheckPhoto, sha256)
