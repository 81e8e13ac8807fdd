"""Supervisors: the follow-up checks (回头看) of fixed cases and accepted works."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from portal.extensions import db
from portal.models import Category, FollowUp, utcnow
from portal.services import followups, photos
from portal.supervisor import bp, on_site
from portal.supervisor.forms import FollowUpForm


def refusal(code: str) -> str:
    """Return the translated reason an answer was not recorded."""
    return on_site.refusal(
        code,
        _("The answer could not be saved."),
        category=_("Choose what the problem is."),
        answered=_("This follow-up was already answered."),
        verdict=_("Say whether it is still fixed."),
    )


@bp.route("/followups/<int:follow_up_id>", methods=["GET", "POST"])
def follow_up(follow_up_id: int) -> Response | tuple[str, int]:
    """Check again on site a fixed case or an accepted work: still fixed, or rebounded."""
    found = db.session.get(FollowUp, follow_up_id)
    if found is None or found.supervisor_id != current_user.id:
        abort(404)
    form = FollowUpForm()
    form.category.choices = [("", "—")] + [
        (c.code, f"{c.code} {c.name}")
        for c in db.session.scalars(select(Category).order_by(Category.sort_order, Category.code))
    ]
    status = 200
    if request.method == "POST":
        code = _answer(found, form)
        if code is None:
            return redirect(url_for(".index"), code=303)
        if code:
            flash(refusal(code), "error")
        status = 422
    return render_template("supervisor/followup.html", item=found, form=form), status


def _answer(found: FollowUp, form: FollowUpForm) -> str | None:
    """Record the answer sent; return None when done, else the refusal's code ("" if shown)."""
    if found.answered_at is not None:
        return "answered"
    if not form.validate():
        return ""
    position = on_site.position(form)
    if position is None:
        return "position"
    processed = on_site.photos_or_flash()
    if processed is None:
        return ""
    category = db.session.scalar(
        select(Category).where(Category.code == (form.category.data or ""))
    )
    store = photos.store_for_app()
    try:
        followups.answer(
            db.session,
            found,
            current_user,
            form.verdict.data,
            form.body.data or "",
            position,
            processed,
            store,
            utcnow(),
            category=category,
        )
        db.session.commit()
    except followups.FollowUpError as error:
        db.session.rollback()
        return error.args[0]
    if found.flagged:
        flash(
            _(
                "Thank you. Your answer is pending staff review (%(why)s): it counts once a "
                "staff member confirms it.",
                why=on_site.why_flagged(found),
            ),
            "info",
        )
    elif found.verdict == "rebounded":
        flash(_("Thank you. The rebound was sent to the office with the 48-hour clock."), "success")
    else:
        flash(_("Thank you for checking again on site."), "success")
    return None
